"""The Kubernetes API emulator (emulators/slackgenie_emulators/kubernetes.py), driven by the official
``kubernetes`` client as the independent check: its models must parse what the emulator answers,
and its ApiException must carry the status, reason and Status body a real apiserver sends.

Part one: Leases and ConfigMaps (create, read, replace, resourceVersion, 404/409/422, MicroTime).
Part two: tokens and RBAC (401, 403, SelfSubjectAccessReview), the request log, outages. Part three
checks the Status bodies against ../shared/specs/kubernetes/LEASE.md, skipped (saying why) where that
folder is absent. Expected values are written by hand from LEASE.md §2.1.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client as k8s  # type: ignore[import-untyped]
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]

from slackgenie_emulators.base import Clock
from slackgenie_emulators.kubernetes import KubernetesEmulator, Rule, kubeconfig, slackgenie_role

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "kubernetes"
UTC = timezone.utc
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
NS = "slackgenie"
ADMIN = "admin-token"
T0 = "2026-01-05T08:00:00.123456Z"
T1 = "2026-01-05T08:00:02.654321Z"


@pytest.fixture
def emu() -> Iterator[KubernetesEmulator]:
    server = KubernetesEmulator(clock=Clock(frozen_at=NOW), tokens={ADMIN: [Rule()]})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def api(emu: KubernetesEmulator, tmp_path: Path, token: str = ADMIN, timeout: float = 5) -> k8s.ApiClient:
    """A client configured from the kubeconfig the emulator's helper writes, without urllib3's retries."""
    configuration = k8s.Configuration()
    path = kubeconfig(tmp_path / f"kubeconfig-{token}", emu.url, token, NS)
    kube_config.load_kube_config(config_file=str(path), client_configuration=configuration, persist_config=False)
    configuration.retries = 0
    return k8s.ApiClient(configuration)


def leases(emu: KubernetesEmulator, tmp_path: Path, token: str = ADMIN) -> k8s.CoordinationV1Api:
    return k8s.CoordinationV1Api(api(emu, tmp_path, token))


def core(emu: KubernetesEmulator, tmp_path: Path, token: str = ADMIN) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api(emu, tmp_path, token))


def lease_body(name: str = "slackgenie", holder: str = "pod-a", at: str = T0, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, **metadata},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "acquireTime": at, "renewTime": at,
                     "leaseTransitions": 0}}


def config_map(name: str = "slackgenie-state", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata},
            "data": {"announced": '{"ops": "2026-01-05"}'}}


def failure(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the decoded Status body of a call that must fail with an ApiException."""
    with pytest.raises(ApiException) as raised:
        call(*args, _request_timeout=5, **kwargs)
    body = raised.value.body
    return raised.value.status, json.loads(body.decode() if isinstance(body, bytes) else body)


# --- part one: objects ---------------------------------------------------------------------------------

def test_a_lease_is_created_read_and_replaced_as_v1_lease_models(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    created = co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    assert isinstance(created, k8s.V1Lease)
    assert created.metadata.name == "slackgenie" and created.metadata.namespace == NS
    assert created.metadata.resource_version and created.metadata.uid
    assert created.metadata.creation_timestamp == NOW  # the emulator's clock
    assert created.spec.holder_identity == "pod-a" and created.spec.lease_duration_seconds == 15
    assert created.spec.lease_transitions == 0
    assert created.spec.renew_time == datetime(2026, 1, 5, 8, 0, 0, 123456, tzinfo=UTC)

    read = co.read_namespaced_lease("slackgenie", NS, _request_timeout=5)
    assert isinstance(read, k8s.V1Lease) and read.metadata.resource_version == created.metadata.resource_version

    renewed = lease_body(at=T0, resourceVersion=read.metadata.resource_version)
    renewed["spec"]["renewTime"] = T1
    replaced = co.replace_namespaced_lease("slackgenie", NS, renewed, _request_timeout=5)
    assert replaced.spec.renew_time == datetime(2026, 1, 5, 8, 0, 2, 654321, tzinfo=UTC)
    assert replaced.spec.acquire_time == datetime(2026, 1, 5, 8, 0, 0, 123456, tzinfo=UTC)
    assert replaced.metadata.resource_version != read.metadata.resource_version
    assert replaced.metadata.uid == created.metadata.uid
    assert emu.get("leases", "slackgenie", NS)["spec"]["renewTime"] == T1  # type: ignore[index]


def test_a_config_map_is_created_read_and_replaced_as_v1_config_map_models(emu: KubernetesEmulator,
                                                                           tmp_path: Path) -> None:
    cv = core(emu, tmp_path)
    created = cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5)
    assert isinstance(created, k8s.V1ConfigMap)
    assert created.data == {"announced": '{"ops": "2026-01-05"}'} and created.metadata.resource_version
    read = cv.read_namespaced_config_map("slackgenie-state", NS, _request_timeout=5)
    read.data["taken"] = "U1"
    replaced = cv.replace_namespaced_config_map("slackgenie-state", NS, read, _request_timeout=5)  # the model itself
    assert replaced.data == {"announced": '{"ops": "2026-01-05"}', "taken": "U1"}
    assert replaced.metadata.resource_version != created.metadata.resource_version
    assert cv.read_namespaced_config_map("slackgenie-state", NS, _request_timeout=5).data["taken"] == "U1"


def test_the_resource_version_is_one_counter_bumped_by_every_write(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co, cv = leases(emu, tmp_path), core(emu, tmp_path)
    versions = [co.create_namespaced_lease(NS, lease_body(), _request_timeout=5).metadata.resource_version,
                cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5).metadata.resource_version]
    renewed = lease_body(resourceVersion=versions[0])
    renewed["spec"]["renewTime"] = T1
    versions.append(co.replace_namespaced_lease("slackgenie", NS, renewed, _request_timeout=5).metadata.resource_version)
    assert len(set(versions)) == 3  # opaque: only compared for equality
    assert emu.resource_version == versions[-1]
    # a PUT that changes nothing writes nothing (etcd's guaranteed update): the version stays
    same = co.replace_namespaced_lease("slackgenie", NS, {**renewed, "metadata": {
        "name": "slackgenie", "resourceVersion": versions[-1]}}, _request_timeout=5)
    assert same.metadata.resource_version == versions[-1]


def test_a_stale_resource_version_is_a_409_conflict(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    first = co.create_namespaced_lease(NS, lease_body(), _request_timeout=5).metadata.resource_version
    co.replace_namespaced_lease("slackgenie", NS, lease_body(holder="pod-b", resourceVersion=first),
                                _request_timeout=5)
    status, body = failure(co.replace_namespaced_lease, "slackgenie", NS, lease_body(resourceVersion=first))
    assert status == 409 and body["reason"] == "Conflict" and body["code"] == 409
    assert body["message"] == ('Operation cannot be fulfilled on leases.coordination.k8s.io "slackgenie": the object '
                               "has been modified; please apply your changes to the latest version and try again")
    assert body["details"] == {"name": "slackgenie", "group": "coordination.k8s.io", "kind": "leases"}
    assert emu.get("leases", "slackgenie", NS)["spec"]["holderIdentity"] == "pod-b"  # type: ignore[index]

    cv = core(emu, tmp_path)
    made = cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5).metadata.resource_version
    changed = {**config_map(resourceVersion=made), "data": {"taken": "U1"}}
    cv.replace_namespaced_config_map("slackgenie-state", NS, changed, _request_timeout=5)
    status, body = failure(cv.replace_namespaced_config_map, "slackgenie-state", NS, config_map(resourceVersion=made))
    assert status == 409 and body["reason"] == "Conflict"
    assert body["details"] == {"name": "slackgenie-state", "kind": "configmaps"}  # no group: the core group


def test_missing_objects_are_404_not_found(emu: KubernetesEmulator, tmp_path: Path) -> None:
    status, body = failure(leases(emu, tmp_path).read_namespaced_lease, "slackgenie", NS)
    assert (status, body["reason"], body["message"]) == (404, "NotFound",
                                                         'leases.coordination.k8s.io "slackgenie" not found')
    cv = core(emu, tmp_path)
    status, body = failure(cv.read_namespaced_config_map, "slackgenie-state", NS)
    assert (status, body["message"], body["details"]) == (404, 'configmaps "slackgenie-state" not found',
                                                          {"name": "slackgenie-state", "kind": "configmaps"})
    # a PUT of a missing ConfigMap is 404 too (no create-on-update)
    status, body = failure(cv.replace_namespaced_config_map, "slackgenie-state", NS, config_map(resourceVersion="7"))
    assert (status, body["reason"]) == (404, "NotFound")


def test_a_put_of_a_missing_lease_creates_it_as_the_apiserver_does(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    made = urllib3.request("PUT", f"{emu.url}/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/slackgenie",
                           json=lease_body(resourceVersion="12345"), timeout=5, retries=False,
                           headers={"Authorization": f"Bearer {ADMIN}"})
    assert made.status == 201  # LEASE.md §1: AllowCreateOnUpdate, whatever resourceVersion the body carries
    assert co.read_namespaced_lease("slackgenie", NS, _request_timeout=5).spec.holder_identity == "pod-a"


def test_creating_twice_is_409_already_exists(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    status, body = failure(co.create_namespaced_lease, NS, lease_body(holder="pod-b"))
    assert (status, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'leases.coordination.k8s.io "slackgenie" already exists'
    cv = core(emu, tmp_path)
    cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5)
    status, body = failure(cv.create_namespaced_config_map, NS, config_map())
    assert (status, body["message"]) == (409, 'configmaps "slackgenie-state" already exists')


def test_a_put_without_resource_version_is_422_for_a_lease_and_overwrites_a_config_map(
        emu: KubernetesEmulator, tmp_path: Path) -> None:
    co, cv = leases(emu, tmp_path), core(emu, tmp_path)
    co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    status, body = failure(co.replace_namespaced_lease, "slackgenie", NS, lease_body(holder="pod-b"))
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('Lease.coordination.k8s.io "slackgenie" is invalid: metadata.resourceVersion: Invalid '
                               "value: 0x0: must be specified for an update")
    assert body["details"]["kind"] == "Lease" and body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5)
    overwritten = cv.replace_namespaced_config_map("slackgenie-state", NS, {**config_map(), "data": {"x": "1"}},
                                                   _request_timeout=5)
    assert overwritten.data == {"x": "1"}  # AllowUnconditionalUpdate: a lost concurrent write, silently


def test_micro_times_need_six_digits_and_come_back_as_utc(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    # the client's own isoformat() of an aware datetime with microseconds: accepted, answered in UTC with Z
    at = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
    model = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="slackgenie"),
                        spec=k8s.V1LeaseSpec(holder_identity="pod-a", lease_duration_seconds=15, acquire_time=at,
                                             renew_time=at))
    co.create_namespaced_lease(NS, model, _request_timeout=5)
    assert emu.get("leases", "slackgenie", NS)["spec"]["renewTime"] == "2026-01-05T09:00:00.123456Z"  # type: ignore
    # LEASE.md §8.3: a whole second serialises without a fraction, and the apiserver refuses it
    whole = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="other"),
                        spec=k8s.V1LeaseSpec(holder_identity="pod-a", renew_time=datetime(2026, 1, 5, 9, 0,
                                                                                          tzinfo=UTC)))
    status, body = failure(co.create_namespaced_lease, NS, whole)
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == ('Lease in version "v1" cannot be handled as a Lease: parsing time '
                               '"2026-01-05T09:00:00+00:00" as "2006-01-02T15:04:05.000000Z07:00": cannot parse '
                               '"+00:00" as ".000000"')
    for wrong in ("2026-01-05T09:00:00.738Z", "2026-01-05T09:00:00Z", "2026-01-05T09:00:00.123456789Z",
                  "2026-01-05T09:00:00.123456"):
        status, body = failure(co.create_namespaced_lease, NS, lease_body(name="other", at=wrong))
        assert status == 400, wrong
    # an offset is accepted and written back as the same instant in UTC
    co.create_namespaced_lease(NS, lease_body(name="offset", at="2026-01-05T10:00:00.000001+02:00"),
                               _request_timeout=5)
    assert emu.get("leases", "offset", NS)["spec"]["acquireTime"] == "2026-01-05T08:00:00.000001Z"  # type: ignore
    assert emu.get("leases", "other", NS) is None


def test_validation_answers_422(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co, cv = leases(emu, tmp_path), core(emu, tmp_path)
    bad = lease_body()
    bad["spec"]["leaseDurationSeconds"] = 0
    status, body = failure(co.create_namespaced_lease, NS, bad)
    assert (status, body["message"]) == (422, 'Lease.coordination.k8s.io "slackgenie" is invalid: '
                                              "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0")
    status, body = failure(co.create_namespaced_lease, NS, lease_body(name="Not_A_Name"))
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"
    big = {**config_map(), "data": {"blob": "x" * (1024 * 1024)}}
    status, body = failure(cv.create_namespaced_config_map, NS, big)
    assert (status, body["message"]) == (422, 'ConfigMap "slackgenie-state" is invalid: []: Too long: must have at '
                                              "most 1048576 bytes")
    status, body = failure(co.create_namespaced_lease, NS, lease_body(resourceVersion="5"))
    assert (status, body["message"]) == (500, "resourceVersion should not be set on objects to be created")


def test_patch_delete_and_list(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    first = co.create_namespaced_lease(NS, lease_body(), _request_timeout=5).metadata.resource_version
    patched = co.patch_namespaced_lease("slackgenie", NS, {"spec": {"holderIdentity": "pod-b"}},
                                        _content_type="application/merge-patch+json", _request_timeout=5)
    assert patched.spec.holder_identity == "pod-b" and patched.spec.lease_duration_seconds == 15
    status, body = failure(co.patch_namespaced_lease, "slackgenie", NS,
                           {"metadata": {"resourceVersion": first}, "spec": {"holderIdentity": "pod-c"}},
                           _content_type="application/merge-patch+json")
    assert (status, body["reason"]) == (409, "Conflict")
    listed = co.list_namespaced_lease(NS, _request_timeout=5)
    assert isinstance(listed, k8s.V1LeaseList) and [i.metadata.name for i in listed.items] == ["slackgenie"]
    co.delete_namespaced_lease("slackgenie", NS, _request_timeout=5)
    assert emu.get("leases", "slackgenie", NS) is None
    status, body = failure(co.delete_namespaced_lease, "slackgenie", NS)
    assert (status, body["reason"]) == (404, "NotFound")


# --- part two: tokens, RBAC, the log, outages ----------------------------------------------------------------

def test_an_unknown_or_missing_token_is_401(emu: KubernetesEmulator, tmp_path: Path) -> None:
    status, body = failure(leases(emu, tmp_path, "not-registered").read_namespaced_lease, "slackgenie", NS)
    assert (status, body) == (401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    anonymous = urllib3.request("GET", f"{emu.url}/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/slackgenie",
                                timeout=5, retries=False)
    assert anonymous.status == 401
    emu.add_token("rotated")
    leases(emu, tmp_path, "rotated").list_namespaced_lease(NS, _request_timeout=5)
    emu.remove_token("rotated")
    assert failure(leases(emu, tmp_path, "rotated").list_namespaced_lease, NS)[0] == 401


def test_rbac_refuses_a_verb_the_token_lacks_with_403(emu: KubernetesEmulator, tmp_path: Path) -> None:
    emu.add_token("reader", user="system:serviceaccount:slackgenie:reader",
                  rules=[Rule(("get", "create"), "leases", NS)])
    co = leases(emu, tmp_path, "reader")
    made = co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    status, body = failure(co.replace_namespaced_lease, "slackgenie", NS,
                           lease_body(holder="pod-b", resourceVersion=made.metadata.resource_version))
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == ('leases.coordination.k8s.io "slackgenie" is forbidden: User '
                               '"system:serviceaccount:slackgenie:reader" cannot update resource "leases" in API group '
                               '"coordination.k8s.io" in the namespace "slackgenie"')
    assert body["details"] == {"name": "slackgenie", "group": "coordination.k8s.io", "kind": "leases"}
    assert emu.get("leases", "slackgenie", NS)["spec"]["holderIdentity"] == "pod-a"  # type: ignore[index]
    status, body = failure(core(emu, tmp_path, "reader").create_namespaced_config_map, NS, config_map())
    assert status == 403 and body["message"] == (
        'configmaps is forbidden: User "system:serviceaccount:slackgenie:reader" cannot create resource "configmaps" '
        'in API group "" in the namespace "slackgenie"')  # no name: create is authorized before one is known
    assert failure(co.read_namespaced_lease, "slackgenie", "elsewhere")[0] == 403


def test_the_deployed_role_names_its_objects_and_create_stays_unnamed(emu: KubernetesEmulator,
                                                                      tmp_path: Path) -> None:
    emu.add_token("pod", rules=slackgenie_role(NS, lease="slackgenie", state="slackgenie-state"))
    co, cv = leases(emu, tmp_path, "pod"), core(emu, tmp_path, "pod")
    made = co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    co.replace_namespaced_lease("slackgenie", NS, lease_body(holder="pod-b",
                                                             resourceVersion=made.metadata.resource_version),
                                _request_timeout=5)
    cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5)
    assert cv.read_namespaced_config_map("slackgenie-state", NS, _request_timeout=5).data
    co.create_namespaced_lease(NS, lease_body(name="another"), _request_timeout=5)  # create: any name
    assert failure(co.read_namespaced_lease, "another", NS)[0] == 403  # get: only the named one
    assert failure(co.delete_namespaced_lease, "slackgenie", NS)[0] == 403
    review = k8s.AuthorizationV1Api(api(emu, tmp_path, "pod"))
    asked = [review.create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"namespace": NS, "verb": verb, "group": "coordination.k8s.io",
                                         "resource": "leases", "name": "slackgenie"}}},
        _request_timeout=5).status.allowed for verb in ("get", "update", "delete")]
    assert asked == [True, True, False]


def test_the_log_has_every_request_with_its_token(emu: KubernetesEmulator, tmp_path: Path) -> None:
    emu.add_token("replica-a")
    emu.add_token("replica-b")
    a, b = leases(emu, tmp_path, "replica-a"), leases(emu, tmp_path, "replica-b")
    a.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    for _ in range(3):
        b.read_namespaced_lease("slackgenie", NS, _request_timeout=5)
    failure(leases(emu, tmp_path, "stranger").read_namespaced_lease, "slackgenie", NS)
    assert [(e.verb, e.status) for e in emu.log("replica-a")] == [("create", 201)]
    assert [(e.verb, e.name, e.status) for e in emu.log("replica-b")] == [("get", "slackgenie", 200)] * 3
    assert [(e.token, e.user, e.status) for e in emu.log("stranger")] == [("stranger", None, 401)]
    assert len(emu.log(resource="leases")) == 5 and len(emu.requests) == 5  # the base log too
    emu.reset_log()
    assert emu.log() == []


@pytest.mark.parametrize("how", ["refuse", "drop", "hang"])
def test_an_unreachable_server_makes_the_client_raise_within_its_timeout(emu: KubernetesEmulator, tmp_path: Path,
                                                                         how: str) -> None:
    co = leases(emu, tmp_path)
    co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)  # a pooled keep-alive connection
    version = emu.resource_version
    emu.down(how)
    try:
        for _ in range(2):  # the pooled connection, then a new one
            started = time.monotonic()
            with pytest.raises(urllib3.exceptions.HTTPError):
                co.replace_namespaced_lease("slackgenie", NS, lease_body(holder="pod-b", resourceVersion=version),
                                            _request_timeout=1.0)
            assert time.monotonic() - started < 3.0
    finally:
        emu.up()
    assert emu.get("leases", "slackgenie", NS)["spec"]["holderIdentity"] == "pod-a"  # type: ignore[index]
    assert emu.resource_version == version  # nothing was carried out
    assert all(e.status == 0 for e in emu.log(verb="update"))  # seen (when the connection reached it), unanswered
    back = co.replace_namespaced_lease("slackgenie", NS, lease_body(holder="pod-b", resourceVersion=version),
                                       _request_timeout=5)
    assert back.spec.holder_identity == "pod-b"


def test_refused_means_refused_and_the_port_comes_back(emu: KubernetesEmulator) -> None:
    port = emu.port
    emu.down("refuse")
    try:
        with pytest.raises(urllib3.exceptions.NewConnectionError):
            urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False).urlopen("GET", "/", timeout=1.0)
    finally:
        emu.up()
    assert emu.port == port
    assert urllib3.request("GET", f"{emu.url}/api/v1/namespaces/{NS}/configmaps", timeout=5, retries=False,
                           headers={"Authorization": f"Bearer {ADMIN}"}).status == 200


def test_the_emulators_carry_the_server_and_write_the_kubeconfig(tmp_path: Path) -> None:
    from slackgenie_emulators import Emulators
    from slackgenie_emulators.kubernetes import KUBE_TOKEN
    from slackgenie_emulators.sample import sample_org

    with Emulators(sample_org(), at=NOW) as emulators:
        path = emulators.kubeconfig(tmp_path)
        assert path == tmp_path / "kubeconfig"
        contexts, current = kube_config.list_kube_config_contexts(config_file=str(path))
        assert current["context"]["namespace"] == NS
        assert re.search(rf"server: \"{re.escape(emulators.kubernetes.url)}\"", path.read_text())
        assert f'token: "{KUBE_TOKEN}"' in path.read_text()
        client = kube_config.new_client_from_config(config_file=str(path))
        k8s.CoreV1Api(client).create_namespaced_config_map(NS, config_map(), _request_timeout=5)
        assert emulators.servers["kubernetes"] is emulators.kubernetes
        assert emulators.calls() == {f"kubernetes POST /api/v1/namespaces/{NS}/configmaps": 1}


# --- part three: against LEASE.md -------------------------------------------------------------------------

def lease_md() -> str:
    path = SPECS / "LEASE.md"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the Kubernetes contract is not checked out beside the repository")
    return path.read_text()


def illustrations(text: str) -> list[dict[str, Any]]:
    """The JSON Status bodies LEASE.md §2.1 illustrates."""
    section = text.split("### 2.1", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    return [b for b in (json.loads(block) for block in blocks if '"…"' not in block and "…" not in block)]


def test_the_not_found_and_conflict_bodies_are_lease_md_s_illustrations(emu: KubernetesEmulator,
                                                                        tmp_path: Path) -> None:
    shown = {body["reason"]: body for body in illustrations(lease_md())}
    assert set(shown) >= {"NotFound", "Conflict"}
    co = leases(emu, tmp_path)
    assert failure(co.read_namespaced_lease, "slackgenie-writer", NS) == (404, shown["NotFound"])
    first = co.create_namespaced_lease(NS, lease_body(name="slackgenie-writer"), _request_timeout=5)
    co.replace_namespaced_lease("slackgenie-writer", NS, lease_body(name="slackgenie-writer", holder="b",
                                resourceVersion=first.metadata.resource_version), _request_timeout=5)
    stale = lease_body(name="slackgenie-writer", resourceVersion=first.metadata.resource_version)
    assert failure(co.replace_namespaced_lease, "slackgenie-writer", NS, stale) == (409, shown["Conflict"])


def test_every_status_has_the_common_shape_and_the_table_s_messages(emu: KubernetesEmulator, tmp_path: Path) -> None:
    text = lease_md()
    common = json.loads(re.search(r"Common shape:\n```json\n(.*?)```", text, re.S)[1])  # type: ignore[index]
    table: dict[str, list[str]] = {}
    for row in re.finditer(r"\| (\d{3}) \| `(\w+)` \| `([^`]+)`", text):
        table.setdefault(row[2], []).append(row[3])
    co = leases(emu, tmp_path)
    co.create_namespaced_lease(NS, lease_body(name="slackgenie-writer"), _request_timeout=5)
    _, exists = failure(co.create_namespaced_lease, NS, lease_body(name="slackgenie-writer"))
    _, invalid = failure(co.replace_namespaced_lease, "slackgenie-writer", NS, lease_body(name="slackgenie-writer"))
    assert [exists["message"]] == table["AlreadyExists"]
    assert invalid["message"] in table["Invalid"]
    _, too_long = failure(core(emu, tmp_path).create_namespaced_config_map, NS,
                          {**config_map("x"), "data": {"blob": "x" * (1024 * 1024)}})
    assert too_long["message"] in table["Invalid"]
    for body in (exists, invalid):
        assert set(body) == set(common) and body["kind"] == "Status" and body["apiVersion"] == "v1"
        assert body["status"] == "Failure" and body["metadata"] == {}
    assert exists["details"]["kind"] == "leases" and invalid["details"]["kind"] == "Lease"  # resource vs Kind
    emu.add_token("no-update", user="system:serviceaccount:slackgenie:slackgenie", rules=[Rule("get")])
    _, forbidden = failure(leases(emu, tmp_path, "no-update").replace_namespaced_lease, "slackgenie-writer", NS,
                           lease_body(name="slackgenie-writer", resourceVersion="1"))
    shape = re.escape(table["Forbidden"][0]).replace(re.escape("…"), ".*").replace(re.escape("<ns>"), NS)
    shape = shape.replace(re.escape("<sa>"), "slackgenie")
    assert re.fullmatch(shape, forbidden["message"]), forbidden["message"]


def test_the_micro_time_layout_is_lease_md_s(emu: KubernetesEmulator, tmp_path: Path) -> None:
    text = lease_md()
    layout = re.search(r'`RFC3339Micro = "([^"]+)"`', text)
    assert layout is not None
    rejected = re.search(r'e\.g\. `(cannot parse "[^"]+" as "[^"]+")`', text)
    assert rejected is not None  # cannot parse ".738Z" as ".000000"
    status, body = failure(leases(emu, tmp_path).create_namespaced_lease, NS,
                           lease_body(at="2026-01-05T08:00:00.738Z"))
    assert status == 400 and body["message"].endswith(f'as "{layout[1]}": {rejected[1]}')


@pytest.mark.parametrize("how", ["refuse", "hang"])
def test_stop_during_an_outage_returns_at_once(tmp_path: Path, how: str) -> None:
    server = KubernetesEmulator(tokens={ADMIN: [Rule()]}).start()
    co = leases(server, tmp_path)
    co.list_namespaced_lease(NS, _request_timeout=5)
    server.down(how)
    with pytest.raises(urllib3.exceptions.HTTPError):
        co.list_namespaced_lease(NS, _request_timeout=0.5)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    if how == "hang":  # the held request was seen, and never answered
        assert [e.status for e in server.log()] == [200, 0]


def test_a_uid_in_the_body_is_a_precondition(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    old = co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    co.delete_namespaced_lease("slackgenie", NS, _request_timeout=5)
    co.create_namespaced_lease(NS, lease_body(holder="pod-b"), _request_timeout=5)  # another object, same name
    stale = lease_body(uid=old.metadata.uid, resourceVersion=emu.resource_version)
    status, body = failure(co.replace_namespaced_lease, "slackgenie", NS, stale)
    assert (status, body["reason"]) == (409, "Conflict") and "Precondition failed: UID in precondition" in body["message"]


def test_injected_faults_answer_status_objects(emu: KubernetesEmulator, tmp_path: Path) -> None:
    co = leases(emu, tmp_path)
    emu.inject(r"/leases/slackgenie$", status=503, retry_after=2, times=1)
    status, body = failure(co.read_namespaced_lease, "slackgenie", NS)
    assert (status, body["kind"], body["status"], body["reason"]) == (503, "Status", "Failure", "ServiceUnavailable")
    assert failure(co.read_namespaced_lease, "slackgenie", NS)[0] == 404  # once only
    emu.inject(r"/leases$", kind="lost", times=1)  # carried out, the answer lost
    with pytest.raises(urllib3.exceptions.HTTPError):
        co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    assert emu.get("leases", "slackgenie", NS) is not None
    assert [(e.verb, e.status) for e in emu.log(verb="create")] == [("create", 201)]


def test_a_write_slipped_in_before_a_request_makes_its_resource_version_stale(emu: KubernetesEmulator,
                                                                              tmp_path: Path) -> None:
    """``before``: another client's change between a client's GET and its PUT; the PUT meets 409 Conflict.
    A step may itself send requests to the server (they run no step); ``times=None``: before every one."""
    cv, other = core(emu, tmp_path), core(emu, tmp_path)
    cv.create_namespaced_config_map(NS, config_map(), _request_timeout=5)
    read = cv.read_namespaced_config_map("slackgenie-state", NS, _request_timeout=5)

    def theirs() -> None:  # over HTTP, on another connection: a GET and a PUT of its own
        obj = other.read_namespaced_config_map("slackgenie-state", NS, _request_timeout=5)
        obj.data["theirs"] = "1"
        other.replace_namespaced_config_map("slackgenie-state", NS, obj, _request_timeout=5)

    emu.before(theirs, verb="update", resource="configmaps")
    read.data["mine"] = "1"
    status, body = failure(cv.replace_namespaced_config_map, "slackgenie-state", NS, read)
    assert (status, body["reason"]) == (409, "Conflict")
    assert [(e.verb, e.status) for e in emu.log()][-3:] == [("get", 200), ("update", 200), ("update", 409)]
    assert emu.get("configmaps", "slackgenie-state", NS)["data"] == {  # type: ignore[index]
        "announced": '{"ops": "2026-01-05"}', "theirs": "1"}
    again = cv.read_namespaced_config_map("slackgenie-state", NS, _request_timeout=5)  # once only: this one goes
    again.data["mine"] = "1"
    assert cv.replace_namespaced_config_map("slackgenie-state", NS, again, _request_timeout=5).data["mine"] == "1"

    co = leases(emu, tmp_path)
    co.create_namespaced_lease(NS, lease_body(), _request_timeout=5)
    bumps = iter(range(1, 100))

    def bump() -> None:  # a direct change before every update of the Lease (none of the ConfigMap)
        lease = emu.get("leases", "slackgenie", NS) or {}
        emu.put({**lease, "spec": {**lease["spec"], "leaseTransitions": next(bumps)}})

    emu.before(bump, verb="update", resource="leases", times=None)
    for _ in range(3):
        version = co.read_namespaced_lease("slackgenie", NS, _request_timeout=5).metadata.resource_version
        assert failure(co.replace_namespaced_lease, "slackgenie", NS, lease_body(resourceVersion=version))[0] == 409
    assert emu.get("leases", "slackgenie", NS)["spec"]["leaseTransitions"] == 3  # type: ignore[index]
    emu.clear_faults()
    version = co.read_namespaced_lease("slackgenie", NS, _request_timeout=5).metadata.resource_version
    assert co.replace_namespaced_lease("slackgenie", NS, lease_body(resourceVersion=version),
                                       _request_timeout=5).spec.lease_transitions == 0
