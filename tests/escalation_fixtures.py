"""What the escalation-level tests of every provider share: the file of a scenario (one group of
the sample's Payments schedule beside the level groups), a sync of it, and the groups' members.
Each provider's test writes its own organisation and expectations by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from slackgenie_emulators import Emulators

from conftest import CliResult, write_config
from providers_fixtures import run_main

PAYMENTS = "Payments_schedule"


def level_config(provider: str, groups: Mapping[str, tuple[str, int]], extra: str = "") -> str:
    """``payments-oncall`` from the Payments schedule, and one group per (policy, level)."""
    lines = [f"provider: {provider}", "interval: 60", "syncs:",
             "  - usergroup: payments-oncall", f"    schedules: [{PAYMENTS}]"]
    for handle, (policy, level) in groups.items():
        lines += [f"  - usergroup: {handle}", f"    escalation: {{policy: {policy}, level: {level}}}"]
    return "\n".join(lines) + "\n" + extra


def sync_file(emu: Emulators, tmp_path: Path, text: str, *args: str) -> CliResult:
    write_config(tmp_path, text)
    return run_main(["sync", *args], emu.env())


def members(emu: Emulators, handles: Iterable[str]) -> dict[str, list[str]]:
    return {handle: sorted(emu.slack.state.emails_of(handle)) for handle in handles}


def seed(emu: Emulators, handle: str, email: str) -> None:
    """Someone already in a group, to see that a failed group is left alone."""
    group, user = emu.slack.state.group_by_handle(handle), emu.slack.state.user_by_email(email)
    assert group is not None and user is not None
    group.users = [user.id]
