"""The exactly-once facts in a ConfigMap (kube/store.py), over HTTP through the official client,
against the Kubernetes API emulator: two stores are two replicas sharing one ConfigMap, each with
its own token allowed what deploy/kubernetes' Role grants (``slackgenie_role``).

Expected values are written by hand: which facts a ConfigMap holds after given changes, which
verbs a refusal names. The API's answers follow ../shared/specs/kubernetes/LEASE.md §2, §3, §7."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration, CoreV1Api  # type: ignore[import-untyped]

from slackgenie.app.runner import SlackApp
from slackgenie.app.take_records import TakeRecords
from slackgenie.core.facts import StateNotSaved
from slackgenie.kube.store import MAX_DATA, ConfigMapStore
from slackgenie.wiring import Service
from slackgenie_emulators import Emulators
from slackgenie_emulators.kubernetes import KubernetesEmulator, Rule, slackgenie_role
from slackgenie_emulators.sample import SAMPLE_CONFIG

from test_people import ask_later, dm_texts, join_syncs, offered_button, press, service_for, uid

UTC = timezone.utc
NS, NAME = "slackgenie", "slackgenie-state"
ADMIN = "admin-token"  # another client, allowed everything (it writes foreign ConfigMaps)
ROLE = slackgenie_role(NS, "slackgenie", NAME)  # deploy/kubernetes' Role: every replica's rights
REPLICAS = ("replica-a", "replica-b", "replica-c")  # a token each


@pytest.fixture
def kube() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator(tokens={ADMIN: [Rule()], **{t: ROLE for t in REPLICAS}}) as server:
        yield server


def api(kube: KubernetesEmulator, token: str = ADMIN, retries: int | None = 0) -> CoreV1Api:
    """A client with ``token``, as kube/client.py makes one (``retries`` 0; None is urllib3's own 3)."""
    configuration = Configuration()
    configuration.host = kube.url
    configuration.api_key = {"BearerToken": token}  # as load_kube_config sets a kubeconfig's token
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.retries = retries
    return CoreV1Api(ApiClient(configuration))


def store(kube: KubernetesEmulator, now: Callable[[], datetime] | None = None, *, token: str = "replica-a",
          **kwargs: Any) -> ConfigMapStore:
    """A replica's store, with its own token (replica-a unless told)."""
    return ConfigMapStore(api(kube, token), NS, NAME, now, **kwargs)


def facts(kube: KubernetesEmulator) -> dict[str, str]:
    """The facts the ConfigMap holds, read from the emulator's own storage."""
    obj = kube.get("configmaps", NAME)
    assert obj is not None, "no ConfigMap"
    return dict(json.loads(obj["data"]["state.json"])["facts"])


def count(kube: KubernetesEmulator, method: str, token: str | None = None) -> int:
    """Requests of ``method`` that reached the API server (answered or not), ``token``'s only if given."""
    return sum(1 for e in kube.log(token) if e.method == method)


def together(*steps: Callable[[], Any]) -> list[Any]:
    """Run ``steps`` at once (released by one barrier), each on its own thread; their results."""
    barrier = threading.Barrier(len(steps))
    results: list[Any] = [None] * len(steps)

    def run(i: int) -> None:
        barrier.wait(timeout=10)
        results[i] = steps[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(steps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    return results


# --- the read-modify-write -----------------------------------------------------------------------

def test_the_configmap_is_created_on_the_first_write_and_holds_the_state_files_json(kube: KubernetesEmulator) -> None:
    a = store(kube)
    assert a.get("announced:ops") is None  # a read of a missing ConfigMap: nothing yet, nothing created
    assert kube.get("configmaps", NAME) is None
    a.put("announced:ops", "U1,U2")
    assert [(e.method, e.status) for e in kube.log()] == [("GET", 404), ("GET", 404), ("POST", 201)]
    obj = kube.get("configmaps", NAME)
    assert obj is not None and obj["metadata"]["labels"]["app.kubernetes.io/name"] == "slackgenie"
    assert json.loads(obj["data"]["state.json"]) == {"version": 2, "facts": {"announced:ops": "U1,U2"},
                                                     "expires": {}}


def test_two_replicas_claiming_one_fact_at_once_one_wins(kube: KubernetesEmulator) -> None:
    """Eight claims of one key from two replicas (four threads each), the ConfigMap not there yet:
    one creates it, the others meet AlreadyExists or Conflict, read again and find the claim."""
    a, b = store(kube), store(kube, token="replica-b")
    results = together(*[lambda s=s, i=i: s.claim("take:n1", f"U{i}") for i in range(4) for s in (a, b)])
    assert sorted(results) == [False] * 7 + [True]
    winner = [f"U{i}" for i in range(4) for _ in (a, b)][results.index(True)]
    assert facts(kube) == {"take:n1": winner}
    assert a.get("take:n1") == b.get("take:n1") == winner
    assert count(kube, "POST") >= 1 and count(kube, "POST", "replica-a") + count(kube, "POST", "replica-b") == \
        count(kube, "POST")


def test_a_put_on_one_replica_is_seen_by_the_other(kube: KubernetesEmulator) -> None:
    a, b = store(kube, fresh=0.2), store(kube, fresh=0.2, token="replica-b")
    assert b.get("announced:ops") is None
    a.put("announced:ops", "U1")
    time.sleep(0.25)  # b's last read is older than its ``fresh``
    assert b.get("announced:ops") == "U1"
    b.put("headsup:x", "sent")
    assert facts(kube) == {"announced:ops": "U1", "headsup:x": "sent"}


def test_reads_within_a_second_are_one_get(kube: KubernetesEmulator) -> None:
    a = store(kube)
    a.put("announced:ops", "U1")
    before = count(kube, "GET")
    assert [a.get("announced:ops") for _ in range(50)] == ["U1"] * 50  # a pass asks for many facts
    assert count(kube, "GET") - before <= 1


def test_a_write_between_a_read_and_its_put_is_kept_and_the_change_applied_again(kube: KubernetesEmulator) -> None:
    """b's change lands between a's GET and a's PUT: a's PUT carries a stale resourceVersion, is
    refused (409), and a reads again and applies its change to what b wrote."""
    a, b = store(kube), store(kube, token="replica-b")
    a.put("announced:ops", "U1")
    kube.before(lambda: b.put("take:n2", "U7"), verb="update", resource="configmaps")  # before a's PUT is served
    seen: list[str | None] = []

    def decide(old: str | None) -> str:
        seen.append(old)
        return "U2"

    assert a.swap("announced:ops", decide) == "U1"
    assert seen == ["U1", "U1"]  # asked again after the conflict
    assert facts(kube) == {"announced:ops": "U2", "take:n2": "U7"}
    puts = [(e.token, e.status) for e in kube.log(verb="update")]
    assert puts == [("replica-b", 200), ("replica-a", 409), ("replica-a", 200)]  # b's, a's stale, a's


def test_three_replicas_writing_at_once_lose_nothing(kube: KubernetesEmulator) -> None:
    stores = [store(kube, token=t) for t in REPLICAS]

    def writes(s: ConfigMapStore, p: str) -> None:
        for i in range(25):
            s.put(f"{p}:{i}", "x")

    together(*[lambda s=s, p=p: writes(s, p) for s, p in zip(stores, "abc")])
    assert facts(kube) == {f"{p}:{i}": "x" for p in "abc" for i in range(25)}
    assert count(kube, "PUT") > 75 - 1  # (one of the first writes is the POST) conflicts were retried


def test_facts_with_an_expiry_are_dropped_by_the_next_change(kube: KubernetesEmulator) -> None:
    clock = [datetime(2026, 11, 23, 9, 0, tzinfo=UTC)]
    a = store(kube, lambda: clock[0])
    a.put("take:n1", "U1", keep_until=clock[0] + timedelta(hours=3))
    a.put("announced:g", "U2")  # no expiry: kept
    clock[0] += timedelta(hours=2)
    a.put("x", "1")
    assert facts(kube) == {"take:n1": "U1", "announced:g": "U2", "x": "1"}
    clock[0] += timedelta(hours=2)
    a.put("y", "1")
    assert facts(kube) == {"announced:g": "U2", "x": "1", "y": "1"}
    assert a.get("take:n1") is None


# --- a fact that cannot be saved -----------------------------------------------------------------

def test_update_forbidden_names_the_verb_and_the_fix(kube: KubernetesEmulator) -> None:
    a = store(kube)
    a.put("announced:ops", "U1")
    kube.set_rules("replica-a", [r for r in ROLE if r.resources != ("configmaps",) or r.verbs == ("create",)]
                   + [Rule("get", "configmaps", NS, NAME)])  # the Role without update on the ConfigMap
    with pytest.raises(StateNotSaved) as raised:
        a.claim("take:n1", "U1")
    message = str(raised.value)
    assert "the state ConfigMap slackgenie-state in namespace slackgenie" in message
    assert "Kubernetes refused to update it (403 Forbidden" in message
    assert ('configmaps "slackgenie-state" is forbidden: User "system:serviceaccount:slackgenie:slackgenie" cannot '
            'update resource "configmaps" in API group "" in the namespace "slackgenie"') in message
    assert "the verbs get, create and update on configmaps in namespace slackgenie" in message
    assert facts(kube) == {"announced:ops": "U1"}
    assert a.get("take:n1") is None  # not kept in memory either
    assert count(kube, "PUT") == 1  # (the first write was the create) refused for good: not tried again
    assert [e.status for e in kube.log(verb="update")] == [403]


def test_create_forbidden_names_create(kube: KubernetesEmulator) -> None:
    kube.set_rules("replica-a", [r for r in ROLE if r.verbs != ("create",) or r.resources != ("configmaps",)])
    with pytest.raises(StateNotSaved, match="Kubernetes refused to create it") as raised:
        store(kube).put("announced:ops", "U1")
    assert 'configmaps is forbidden: User "system:serviceaccount:slackgenie:slackgenie" cannot create resource ' \
        '"configmaps"' in str(raised.value)
    assert kube.get("configmaps", NAME) is None


@pytest.mark.parametrize("how", ["refuse", "drop", "hang"])
def test_unreachable_api_server_is_not_saved_within_the_deadline(kube: KubernetesEmulator, how: str) -> None:
    a = store(kube, deadline=1.0)
    a.put("announced:ops", "U1")
    kube.down(how)  # the port closed; each request dropped unanswered; or held unanswered
    try:
        began = time.monotonic()
        with pytest.raises(StateNotSaved) as raised:
            a.put("headsup:x", "sending|1")
        assert time.monotonic() - began < 2.0
        assert "the state ConfigMap slackgenie-state in namespace slackgenie could not be saved" in str(raised.value)
        assert "check that the Kubernetes API server answers from this pod" in str(raised.value)
        assert a.get("announced:ops") == "U1"  # reads answer from the last one meanwhile
    finally:
        kube.up()
    assert facts(kube) == {"announced:ops": "U1"}


def test_an_api_server_that_never_answers_costs_the_deadline_not_a_multiple(kube: KubernetesEmulator) -> None:
    """An API server that holds every request unanswered, and a client left with urllib3's own
    retries: the deadline holds all the same."""
    a = ConfigMapStore(api(kube, "replica-a", retries=None), NS, NAME, deadline=1.2)
    kube.down("hang")
    try:
        began = time.monotonic()
        with pytest.raises(StateNotSaved, match="did not answer its get"):
            a.claim("take:n1", "U1")
        assert time.monotonic() - began < 2.0
    finally:
        kube.up()
    assert kube.get("configmaps", NAME) is None


def test_conflicts_without_end_give_up_loudly(kube: KubernetesEmulator) -> None:
    a = store(kube)
    a.put("announced:ops", "U1")
    bumps = iter(range(1, 100))

    def another_replica_writes() -> None:  # before each of a's PUTs: a's resourceVersion is stale every time
        obj = kube.get("configmaps", NAME) or {}
        kube.put({**obj, "data": {**obj["data"], "other": str(next(bumps))}})

    kube.before(another_replica_writes, verb="update", resource="configmaps", times=None)
    with pytest.raises(StateNotSaved, match="other replicas changed it 8 times in a row"):
        a.put("headsup:x", "sent")
    assert count(kube, "PUT") == 8  # (the first write was the create)
    assert [e.status for e in kube.log(verb="update")] == [409] * 8
    assert "headsup:x" not in facts(kube)


def test_a_write_whose_answer_was_lost_is_not_sent_again(kube: KubernetesEmulator) -> None:
    a = store(kube)
    a.put("announced:ops", "U1")
    kube.inject(rf"/configmaps/{NAME}$", kind="lost", method="PUT", times=1)  # carried out, the answer lost
    with pytest.raises(StateNotSaved, match="it may or may not be saved"):
        a.claim("take:n1", "U1")
    assert count(kube, "PUT") == 1  # (the first write was the create) not repeated
    assert a.get("take:n1") == "U1"  # it was saved: the next read says so
    assert a.claim("take:n1", "U1") is False


def test_a_configmap_over_one_mib_is_refused_before_the_api_server(kube: KubernetesEmulator) -> None:
    a = store(kube)
    a.put("announced:ops", "U1")
    with pytest.raises(StateNotSaved) as raised:
        a.put("big", "x" * MAX_DATA)
    assert f"over the {MAX_DATA} bytes (1 MiB) Kubernetes allows a ConfigMap" in str(raised.value)
    assert "delete the ConfigMap's key state.json" in str(raised.value)
    assert count(kube, "PUT") == 0  # (the first write was the create) never sent
    a.put("small", "x" * (MAX_DATA // 2))  # half of it fits
    assert facts(kube)["small"] == "x" * (MAX_DATA // 2)


def test_a_configmap_that_is_not_slackgenies_state_is_never_written_over(kube: KubernetesEmulator) -> None:
    api(kube).create_namespaced_config_map(NS, {"metadata": {"name": NAME}, "data": {"state.json": "{not json"}})
    a = store(kube)
    with pytest.raises(StateNotSaved, match="cannot be read .*: fix or delete its key state.json"):
        a.put("announced:ops", "U1")
    assert count(kube, "PUT") == 0
    assert a.get("announced:ops") is None
    assert kube.get("configmaps", NAME)["data"] == {"state.json": "{not json"}  # type: ignore[index]


def test_a_change_after_reads_answered_from_an_old_copy_is_refused_once(kube: KubernetesEmulator) -> None:
    """a answers from memory while the API server cannot be read; meanwhile b changed the
    ConfigMap: a's next change may rest on the old copy, so it is refused, and the one after goes."""
    a, b = store(kube, fresh=0.0), store(kube, token="replica-b")
    a.put("announced:ops", "U1")
    kube.down("drop")
    try:
        assert a.get("announced:ops") == "U1"  # the last read's
    finally:
        kube.up()
    b.put("announced:ops", "U2")
    with pytest.raises(StateNotSaved, match="changed meanwhile"):
        a.put("announced:ops:sending", "U1,U3|1")
    assert a.get("announced:ops") == "U2"
    a.put("announced:ops:sending", "U2,U3|2")
    assert facts(kube) == {"announced:ops": "U2", "announced:ops:sending": "U2,U3|2"}


def test_other_keys_labels_and_annotations_of_the_configmap_are_kept(kube: KubernetesEmulator) -> None:
    api(kube).create_namespaced_config_map(NS, {"metadata": {"name": NAME, "labels": {"team": "sre"},
                                                             "annotations": {"owner": "platform"}},
                                                "data": {"README": "Slackgenie's state"}})
    store(kube).put("announced:ops", "U1")
    obj = kube.get("configmaps", NAME)
    assert obj is not None
    assert obj["metadata"]["labels"] == {"team": "sre"} and obj["metadata"]["annotations"] == {"owner": "platform"}
    assert obj["data"]["README"] == "Slackgenie's state"


def test_the_pass_lock_is_this_processs_only(kube: KubernetesEmulator) -> None:
    a, b = store(kube), store(kube, token="replica-b")
    with a.exclusive(timeout=1), b.exclusive(timeout=1):  # two replicas: the Lease keeps one writer
        pass
    from slackgenie.core.facts import Busy
    with a.exclusive(timeout=1):
        with pytest.raises(Busy):
            with a.exclusive(timeout=0.1):
                pass


# --- exactly once through the callers ------------------------------------------------------------

def test_a_take_button_pressed_on_both_replicas_is_used_once(kube: KubernetesEmulator) -> None:
    """app/take_records.py on two replicas: the press is recorded by one of them only."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    keep = now + timedelta(days=2)
    one, two = (TakeRecords(store(kube, lambda: now, token=t), lambda: now) for t in REPLICAS[:2])
    results = together(*[lambda r=r: r.use("take:n1", "U1", keep) for r in (one, two, one, two)])
    assert sorted(results) == [False, False, False, True]
    assert one.used("take:n1") and two.used("take:n1")
    # and a create under way on one holds the other's back (IN_FLIGHT)
    start, end = now, now + timedelta(hours=1)
    first = one.claim_taking("taking:opsgenie:Delivery:U1", start, end, keep)
    second = two.claim_taking("taking:opsgenie:Delivery:U1", start, end, keep)
    assert first is None and second == "\x00under way"


def replica(emu: Emulators, tmp_path: Path, kube: KubernetesEmulator, name: str, config: str, token: str
            ) -> Service:
    """A replica in-process: its own directory (no shared disk), its facts in the one ConfigMap
    (through its own ``token``)."""
    (tmp_path / name).mkdir()
    service = service_for(emu, tmp_path / name, f"state_file: {tmp_path / name / 'state.json'}\n{config}")
    shared = store(kube, service.clock.now, token=token)
    service.state = service.headsups.state = service.passes.state = shared
    assert service.reconciler.notifier is not None
    service.reconciler.notifier.state = shared
    return service


def test_a_heads_up_is_sent_once_by_two_replicas_passing_at_once(emulators: Emulators, tmp_path: Path,
                                                                 kube: KubernetesEmulator) -> None:
    """engine/headsup.py on two replicas at once (as during a hand-over without the lease's
    margin): alice's heads-up for her 09:00 Delivery shift (DEMO_START 08:58, lead 1 h) is claimed
    in the ConfigMap by one of them only."""
    config = "provider: opsgenie\n" + SAMPLE_CONFIG.replace(
        "  - usergroup: delivery-support\n", "  - usergroup: delivery-support\n    heads_up: 1h\n")
    one, two = (replica(emulators, tmp_path, kube, n, config, t) for n, t in zip(("one", "two"), REPLICAS))
    try:
        together(one.run_pass, two.run_pass)
        together(one.run_pass, two.run_pass)
        assert len(dm_texts(emulators, "alice@example.com")) == 1
        assert [v for k, v in facts(kube).items() if k.startswith("headsup:")] == ["sent"]
    finally:
        one.close()
        two.close()


def test_a_take_button_pressed_on_both_replicas_makes_one_override(emulators: Emulators, tmp_path: Path,
                                                                   kube: KubernetesEmulator) -> None:
    """bob asks on one replica; the button is pressed on both at once (Slack may deliver a
    double click to either): one override in Opsgenie, one answer that says so, one 'used'."""
    config = "provider: opsgenie\n" + SAMPLE_CONFIG
    services = [replica(emulators, tmp_path, kube, n, config, t) for n, t in zip(("one", "two"), REPLICAS)]
    try:
        apps = [SlackApp(s) for s in services]
        for app, service in zip(apps, services):
            app.refresh(service.run_pass())
        bob = uid(emulators, "bob@example.com")
        ask_later(emulators, apps[0], "take 1h delivery-support", bob, "ask")
        button = offered_button(emulators, "ask", "take_confirm")
        answers = together(lambda: press(emulators, apps[0], bob, button, "p1"),
                           lambda: press(emulators, apps[1], bob, button, "p2"))
        for app in apps:
            join_syncs(app)
        assert sorted(a.split(" ", 1)[0] for a in answers) == [":white_check_mark:", "This"], answers
        assert "This button was used already; `/oncall me` shows your shifts." in answers
        assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1
    finally:
        for service in services:
            service.close()
