"""The lease loop (kube/lease.py) and check's Kubernetes items (ops/check_lease.py) against the
Kubernetes API emulator (emulators/slackgenie_emulators/kubernetes.py): each candidate with its
own service-account token, allowed exactly what deploy/kubernetes' Role grants (``slackgenie_role``),
so these tests also show that the Role is enough. Outages are the emulator's: ``refuse`` (the API
server's port closed), ``drop`` (requests read and the connection closed unanswered) and ``hang``
(requests held unanswered: a partition). The API's answers follow ../shared/specs/kubernetes/LEASE.md."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slackgenie.kube.client import NoCredentials, connect
from slackgenie.kube.lease import Lease
from slackgenie.ops.check_lease import lease_items
from slackgenie.settings import load
from slackgenie_emulators.kubernetes import KubernetesEmulator, Rule, kubeconfig, slackgenie_role

DURATION = 5
NS, LEASE, STATE = "slackgenie", "slackgenie", "slackgenie-state"
ROLE = slackgenie_role(NS, LEASE, STATE)  # deploy/kubernetes' Role


def wait_until(predicate: Any, seconds: float) -> float | None:
    """Seconds until ``predicate()`` held (polled every 20 ms), None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


@pytest.fixture
def kube() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator() as server:
        yield server


def candidates(kube: KubernetesEmulator, tmp_path: Path, n: int = 2) -> list[Lease]:
    """``n`` candidates pod-0, pod-1, ..., each with its own token (token-pod-i) and the Role's rights."""
    found = []
    for i in range(n):
        kube.add_token(f"token-pod-{i}", rules=ROLE)
        env = {"KUBECONFIG": str(kubeconfig(tmp_path / f"kubeconfig-{i}", kube.url, f"token-pod-{i}", NS))}
        found.append(Lease(connect(None, env).leases, NS, LEASE, DURATION, f"pod-{i}"))
    return found


def test_one_holder_renews_and_a_release_hands_over_at_once(kube: KubernetesEmulator, tmp_path: Path) -> None:
    a, b = candidates(kube, tmp_path)
    told: list[bool] = []
    a.listen(told.append)
    a.start()
    assert wait_until(a.may_write, 3) is not None
    b.start()
    try:
        time.sleep(DURATION * 1.5)  # several renewals; b never writes meanwhile
        assert a.may_write() and not b.may_write()
        lease = kube.get("leases", LEASE)
        assert lease is not None and lease["spec"]["holderIdentity"] == "pod-0"
        assert lease["spec"]["leaseDurationSeconds"] == DURATION and lease["spec"]["leaseTransitions"] == 0
        assert told == [True]
        # a renews (PUTs) and never reads; b only reads: nothing else was asked of the API server
        assert {e.verb for e in kube.log("token-pod-0")} == {"get", "create", "update"}  # its first turn: get, 404
        assert [e.verb for e in kube.log("token-pod-0")][:2] == ["get", "create"]
        assert {e.verb for e in kube.log("token-pod-1")} == {"get"}
        assert all(e.status in (200, 201, 404) for e in kube.log())
        assert a.release()
        assert not a.may_write() and told == [True, False]
        handed = wait_until(b.may_write, 3)
        assert handed is not None and handed < 1.5  # b polls every second at most
        lease = kube.get("leases", LEASE)
        assert lease is not None and lease["spec"]["holderIdentity"] == "pod-1"
        assert lease["spec"]["leaseTransitions"] == 0  # taken from nobody: not a transition
    finally:
        a.stop()
        b.release()


def test_a_holder_that_dies_is_replaced_after_the_duration_not_before(kube: KubernetesEmulator,
                                                                      tmp_path: Path) -> None:
    a, b = candidates(kube, tmp_path)
    a.start()
    assert wait_until(a.may_write, 3) is not None
    b.start()
    try:
        time.sleep(1.0)
        a.stop()  # no release: as after kill -9
        died = time.monotonic()
        renewed = (kube.get("leases", LEASE) or {})["metadata"]["resourceVersion"]
        assert wait_until(b.may_write, DURATION + 4) is not None
        lease = kube.get("leases", LEASE)
        assert lease is not None and lease["spec"]["holderIdentity"] == "pod-1"
        assert lease["spec"]["leaseTransitions"] == 1 and lease["metadata"]["resourceVersion"] != renewed
        # Not before the record had stood unchanged for its duration (a renewed it within the last
        # duration/3 before it died).
        assert time.monotonic() - died >= DURATION - DURATION / 3 - 0.1
        taken = [e for e in kube.log("token-pod-1", verb="update") if e.status == 200]
        assert len(taken) >= 1 and taken[0].monotonic - died >= DURATION - DURATION / 3 - 0.1
    finally:
        b.release()


@pytest.mark.parametrize("how", ["refuse", "drop", "hang"])
def test_an_unreachable_api_server_shuts_the_gate_before_the_lease_can_lapse(kube: KubernetesEmulator,
                                                                             tmp_path: Path, how: str) -> None:
    a, b = candidates(kube, tmp_path)
    a.start()
    assert wait_until(a.may_write, 3) is not None
    b.start()
    try:
        time.sleep(0.5)
        kube.down(how)
        cut = time.monotonic()
        shut = wait_until(lambda: not a.may_write(), DURATION)
        assert shut is not None and shut <= DURATION - DURATION / 3 + 0.2  # at the margin, at the latest
        time.sleep(DURATION)  # nobody writes while the API server is away
        assert not a.may_write() and not b.may_write()
        assert kube.get("leases", LEASE)["spec"]["holderIdentity"] == "pod-0"  # type: ignore[index]
        kube.up()
        back = wait_until(lambda: a.may_write() or b.may_write(), DURATION + 3)
        assert back is not None and time.monotonic() - cut > DURATION
        assert a.may_write() != b.may_write()
    finally:
        if kube.outage is not None:
            kube.up()
        a.release()
        b.release()


def test_credentials_come_from_kubeconfig_or_the_pod_and_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NoCredentials, match="KUBECONFIG"):
        connect(None, {})
    (tmp_path / "sa").mkdir()
    with pytest.raises(NoCredentials, match="automountServiceAccountToken"):
        connect(None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path / "sa")


def test_check_lists_credentials_the_objects_and_the_rbac_verbs(kube: KubernetesEmulator, tmp_path: Path) -> None:
    from slackgenie_emulators.sample import SAMPLE_CONFIG

    path = tmp_path / "slackgenie.yaml"
    path.write_text("leader_election: {lease: slackgenie, duration: 5}\nprovider: opsgenie\n" + SAMPLE_CONFIG)
    kube.add_token("check-token", rules=ROLE)
    env = {"KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", kube.url, "check-token", NS)),
           "OPSGENIE_API_KEY": "emulated-opsgenie-key", "SLACK_BOT_TOKEN": "xoxb-emulated-token"}
    config = load(str(path), env)
    items = list(lease_items(config, env))
    assert all(ok for ok, _, _ in items), items
    texts = [what for _, what, _ in items]
    assert "namespace slackgenie" in texts[0] and "KUBECONFIG" in texts[0]
    assert any("Lease slackgenie" in t and "does not exist yet" in t for t in texts)
    assert any("ConfigMap slackgenie-state" in t for t in texts)
    assert sum(t.startswith("RBAC: get, create and update") for t in texts) == 2
    # the Role without update on the state ConfigMap
    kube.set_rules("check-token", [r for r in ROLE if r.resources != ("configmaps",) or r.verbs == ("create",)]
                   + [Rule("get", "configmaps", NS, STATE)])
    refused = [(what, fix) for ok, what, fix in lease_items(config, env) if not ok]
    assert refused == [("RBAC: this identity may not update configmaps (slackgenie-state) in namespace slackgenie",
                        'grant get, create and update on configmaps in the core group ("") in namespace '
                        "slackgenie (the Role and RoleBinding in deploy/kubernetes)")]
    assert list(lease_items(config, {}))[0][0] is False
