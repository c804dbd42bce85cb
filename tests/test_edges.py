"""Trustworthy at the edges: what a careless API sends never becomes a person, "nobody" or a crash.

Each test runs the real CLI against the emulators over HTTP, with one answer bent out of shape
by the emulator (a ``transform`` fault: the real answer, one field wrong).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from slackgenie.emulators import Emulators

DELIVERY = "Delivery Support_schedule"
BEFORE = ["bob@example.com", "dana.lead@example.com"]  # @delivery-support before any sync
NOW = ["carol@example.com", "dana.lead@example.com"]  # who it should hold at the sample's start


def bulk_entry(name: str, **changes: Any) -> Callable[[Any], Any]:
    """Change one schedule's item in the bulk ``GET /v2/schedules/on-calls`` answer."""

    def transform(body: Any) -> Any:
        for entry in body["data"]:
            if entry["_parent"]["name"] == name:
                entry.update(changes)
        return body

    return transform


def looked_up(emu: Emulators) -> list[str]:
    return [r.params.get("email", "") for r in emu.slack.requests if r.path.endswith("users.lookupByEmail")]


@pytest.mark.parametrize("recipients", [[None], [{"type": "user"}], [""], [42], "carol@example.com", None])
def test_a_malformed_on_call_entry_fails_its_own_group_only(emulators: Emulators, sync_cli, recipients: Any) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", kind="transform",
                              transform=bulk_entry(DELIVERY, onCallRecipients=recipients))
    result = sync_cli("sync")
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE  # left alone, despite its static user
    assert "malformed" in result.out and "Traceback" not in result.err
    assert not any(e in ("None", "42", "") or e.startswith("{") for e in looked_up(emulators))
    assert emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"]  # the others are synced


@pytest.mark.parametrize("parent", ["x", ["x"], {"id": ["x"], "name": DELIVERY}, None, {"name": DELIVERY}])
def test_an_entry_without_a_readable_parent_is_read_again_on_its_own(emulators: Emulators, sync_cli, parent: Any) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", kind="transform",
                              transform=bulk_entry(DELIVERY, _parent=parent))
    result = sync_cli("sync")
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == NOW
    assert emulators.opsgenie.calls(r"/v2/schedules/[^/]+/on-calls$") == 1  # only the unreadable one


def test_a_single_schedule_answer_that_does_not_fit_is_a_failed_read(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503, times=10)  # force per-schedule reads
    emulators.opsgenie.inject(r"^/v2/schedules/[^/]+/on-calls$", kind="transform",
                              transform=lambda body: {**body, "data": {**body["data"], "onCallRecipients": [None]}})
    result = sync_cli("sync")
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE
    assert emulators.slack.calls(r"usergroups\.users\.update") == 0


def test_a_group_listed_without_members_is_not_read_as_empty(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    def drop_users(body: Any) -> Any:
        for group in body["usergroups"]:
            if group["handle"] == "payments-oncall":
                del group["users"]
        return body

    emulators.slack.inject(r"usergroups\.list", kind="transform", transform=drop_users)
    result = sync_cli("sync")
    assert result.code == 1
    assert "payments-oncall" in result.out and "malformed" in result.out
    gid = emulators.slack.state.group_by_handle("payments-oncall").id  # type: ignore[union-attr]
    assert not [u for u in emulators.slack.state.group_updates if u[1] == gid]  # never rewritten
    assert emulators.slack.state.emails_of("delivery-support") == NOW
