"""`slackgenie sync` (the one-shot) with leader_election (issue 23): it writes only as the lease
holder. Nobody holding the Lease: it takes it, writes, and gives it back; a `run` replica holding
it: the one-shot only plans, says who holds it, writes nothing and exits 1. In-process, against
the emulators, the Kubernetes API emulator's among them (the one-shot's token allowed what
deploy/kubernetes' Role grants)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from slackgenie_emulators import Emulators
from slackgenie_emulators.kubernetes import slackgenie_role
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF

from conftest import write_config
from providers_fixtures import run_main

ELECTION = "leader_election: {lease: slackgenie, namespace: slackgenie, duration: 5}\n"
TOKEN = "one-shot-token"


def _writes(emu: Emulators) -> int:
    return len(emu.slack.api_calls("usergroups.users.update"))


def _env(emu: Emulators, tmp_path: Path) -> dict[str, str]:
    emu.kubernetes.add_token(TOKEN, rules=slackgenie_role("slackgenie", "slackgenie", "slackgenie-state"))
    return {**emu.env(), "KUBECONFIG": str(emu.kubeconfig(tmp_path / "kubeconfig", token=TOKEN))}


def test_a_one_shot_takes_a_free_lease_writes_and_gives_it_back(emulators: Emulators, tmp_path: Path) -> None:
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    write_config(tmp_path, emulators.org.config_yaml + ELECTION)
    result = run_main(["sync"], _env(emulators, tmp_path))
    assert result.code == 0, result.both
    slack = emulators.slack.state  # after the 09:00 handoffs (by hand: as test_sync_e2e has them)
    assert slack.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]
    assert slack.emails_of("payments-oncall") == ["grace@example.com"]  # the override from 09:00
    lease = emulators.kubernetes.get("leases", "slackgenie")
    assert lease is not None and lease["spec"]["holderIdentity"] == ""  # given back at the end
    verbs = [(e.verb, e.resource, e.status) for e in emulators.kubernetes.log(TOKEN, resource="leases")]
    assert verbs[:2] == [("get", "leases", 404), ("create", "leases", 201)]  # taken: it was free
    assert verbs[-1] == ("update", "leases", 200)  # given back


def _held_by(emu: Emulators, holder: str) -> None:
    """The Lease as a replica wrote it, renewed now (5 s, as the file says)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found = emu.kubernetes.get("leases", "slackgenie")
    metadata = {"name": "slackgenie", **({"resourceVersion": found["metadata"]["resourceVersion"]} if found else {})}
    emu.kubernetes.put({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
                        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 5, "acquireTime": now,
                                 "renewTime": now, "leaseTransitions": 0}})


def test_a_one_shot_beside_a_replica_holding_the_lease_only_plans(emulators: Emulators, tmp_path: Path) -> None:
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    _held_by(emulators, "slackgenie-7f9c-abcde")
    alive = threading.Event()

    def renew() -> None:  # the live replica renews every second, for at most 30 s
        for _ in range(30):
            if alive.wait(1.0):
                return
            _held_by(emulators, "slackgenie-7f9c-abcde")

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        write_config(tmp_path, emulators.org.config_yaml + ELECTION)
        result = run_main(["sync"], _env(emulators, tmp_path))
    finally:
        alive.set()
        renewer.join(5)
    assert result.code == 1, result.both
    assert "is held by slackgenie-7f9c-abcde (a `run` replica)" in result.err, result.both
    assert "would update" in result.out  # the plan is printed
    assert _writes(emulators) == 0
    assert emulators.kubernetes.get("leases", "slackgenie")["spec"]["holderIdentity"] == "slackgenie-7f9c-abcde"  # type: ignore[index]
    assert {e.verb for e in emulators.kubernetes.log(TOKEN, resource="leases")} == {"get"}  # never written


def test_a_one_shot_takes_the_lease_of_a_replica_that_died_after_its_duration(emulators: Emulators,
                                                                            tmp_path: Path) -> None:
    """The holder's record is never renewed (kill -9): after watching it unchanged for its
    duration (5 s), the one-shot takes it and writes."""
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    _held_by(emulators, "slackgenie-dead-00000")
    write_config(tmp_path, emulators.org.config_yaml + ELECTION)
    result = run_main(["sync"], _env(emulators, tmp_path))
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("payments-oncall") == ["grace@example.com"]  # the override from 09:00
    assert emulators.kubernetes.get("leases", "slackgenie")["spec"]["holderIdentity"] == ""  # type: ignore[index]
