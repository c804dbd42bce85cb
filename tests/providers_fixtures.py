"""What the provider tests share: the sample organisation's schedules and people, each provider's
names for them (read from its emulator), the sample built in-process on one provider, and the
CLI's ``main()`` run in-process for scenarios that need no process of their own.

Who is on call when, in the sample (slackgenie_emulators.sample), worked out by hand:
- Delivery: daily turns of alice, bob, carol from Mon 2026-11-02 09:00 UTC. At DEMO_START (Mon
  2026-11-23 08:58) turn 20 (20 % 3 = 2): carol; from 09:00 turn 21: alice, until Tue 09:00.
- Payments: weekly turns of dave, erin from the same Monday; 08:58 on the 23rd is week 2: dave.
  From 09:00 week 3 would be erin, but grace's override holds 09:00-18:00.
- Platform: business hours 09:00-17:00 London (UTC in November) on weekdays, daily turns of
  frank.og and heidi from Tue 2026-11-03 09:00: nobody before 09:00; from 09:00 turn 20: frank.og.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import pytest
import structlog

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.sources.base import OnCallSource
from slackgenie.wiring import Service, build
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import SAMPLE_CONFIG
from slackgenie_emulators.schedules import Schedule

from conftest import FAST_RETRY, CliResult, record_output, write_config

UTC = timezone.utc
DELIVERY, PAYMENTS, PLATFORM = "Delivery Support_schedule", "Payments_schedule", "Platform_schedule"
SCHEDULES = (DELIVERY, PAYMENTS, PLATFORM)
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
HANDOFF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# an override taken in Delivery during alice's turn (Mon 09:00 - Tue 09:00)
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DURING = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Provider:
    """One provider as its emulator shows it: where its reads go, and where it legitimately
    differs from the others."""

    name: str
    title: str  # as messages name it
    on_call_path: str  # the requests that answer who is on call (a regex over the path)
    list_path: str  # the request listing the schedules
    catalog_teams: bool  # the schedule list names each schedule's team
    layers_hold_teams: bool  # a team in a rotation is a participant of its own (PagerDuty: its members)
    schedule_id: Callable[[Emulators, str], str]  # the provider's id of a schedule (by its name)
    user_id: Callable[[Emulators, str], str]  # the provider's id of a person (by e-mail), for overrides

    def __str__(self) -> str:
        return self.name


def _og_schedule_id(emu: Emulators, name: str) -> str:
    return truth(emu, name).id  # JSM Ops serves the Opsgenie schedules under the same ids


OPSGENIE = Provider("opsgenie", "Opsgenie", r"/on-calls$", r"^/v2/schedules$", catalog_teams=True,
                    layers_hold_teams=True, schedule_id=_og_schedule_id, user_id=lambda emu, email: email)
JSM = Provider("jsm", "JSM Ops", r"/on-calls$", r"/v1/schedules$", catalog_teams=False, layers_hold_teams=True,
               schedule_id=_og_schedule_id, user_id=lambda emu, email: emu.jsm.account_id(email))
PAGERDUTY = Provider("pagerduty", "PagerDuty", r"^/oncalls$", r"^/schedules$", catalog_teams=True,
                     layers_hold_teams=False, schedule_id=lambda emu, name: emu.pagerduty.schedule_id(name),
                     user_id=lambda emu, email: emu.pagerduty.user_id(email))
PROVIDERS = (OPSGENIE, JSM, PAGERDUTY)
NAMES = [p.name for p in PROVIDERS]


def truth(emu: Emulators, name: str) -> Schedule:
    """The schedule as the emulators hold it (one organisation behind every provider): its
    engine (``recipients``, ``next_change``) is the emulators' own notion, not the product's."""
    schedule = emu.opsgenie.state.schedule(name, "name")
    assert schedule is not None, name
    return schedule


@contextmanager
def sample_service(emu: Emulators, tmp_path: Path, provider: str, text: str = SAMPLE_CONFIG,
                   retry: str = FAST_RETRY, env: dict[str, str] | None = None) -> Iterator[Service]:
    """The sample on one provider, built in-process on the emulators' clock (``retry``: the
    file's retry line), closed afterwards."""
    path = write_config(tmp_path, f"provider: {provider}\n" + text + retry, fast_retry=False)
    service = build(load(str(path), {**emu.env(), **(env or {})}), clock=SteppedClock(emu.clock))
    try:
        yield service
    finally:
        service.close()


S = TypeVar("S", bound=OnCallSource)


@contextmanager
def sample_source(emu: Emulators, tmp_path: Path, kind: type[S]) -> Iterator[S]:
    """The sample on one provider's own source (``OpsgenieSource``, ``JsmSource``…)."""
    with sample_service(emu, tmp_path, kind.provider) as service:
        source = service.source.sources[kind.provider]
        assert isinstance(source, kind)
        yield source


def group_updates(emu: Emulators, handle: str) -> list[tuple[datetime, list[str]]]:
    """Each write of the group the Slack emulator took: (when, the members' e-mails)."""
    group = emu.slack.state.group_by_handle(handle)
    assert group is not None
    users = emu.slack.state.users
    return [(datetime.fromtimestamp(t, UTC), sorted(str(users[u].email) for u in ids))
            for t, g, ids in emu.slack.state.group_updates if g == group.id]


# --- the CLI in-process ---------------------------------------------------------------------------

class WouldExit(Exception):
    """The command asked to leave the process at once (os._exit): never done in-process."""


CLEARED = ("SLACK", "OPSGENIE", "JSM_", "PAGERDUTY", "SLACKGENIE", "LOG_")


def run_main(args: Sequence[str], env: dict[str, str]) -> CliResult:
    """``slackgenie ARGS`` through ``cli.main`` in this process, in the working directory, with
    the environment ``env`` (over the process's, less any Slackgenie or provider variable), as
    ``run_cli`` would run it but without starting a process. What main() sets for the whole
    process (logging, the redaction of stdout and stderr) is put back afterwards; a command
    that would end the process (os._exit) raises ``WouldExit`` instead."""
    from slackgenie.cli import main
    from slackgenie.telemetry.logging import REDACTOR

    out, err = io.StringIO(), io.StringIO()
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    handler_filters = {h: list(h.filters) for h in root_handlers}
    secrets = list(REDACTOR.secrets)

    def exit_now(code: int) -> None:
        raise WouldExit(f"the command would have ended the process with exit code {code}")

    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(CLEARED)]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        mp.setattr(os, "_exit", exit_now)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # argparse's usage errors
                    code = exc.code if isinstance(exc.code, int) else 1
        finally:
            structlog.reset_defaults()
            structlog.configure(**structlog_config)
            root.setLevel(root_level)
            root.handlers[:] = root_handlers
            for handler, filters in handler_filters.items():
                handler.filters[:] = filters
            REDACTOR.secrets[:] = secrets
            label = "slackgenie " + " ".join(args) + " (in-process)"
            record_output(f"{label}: stdout", out.getvalue())
            record_output(f"{label}: stderr", err.getvalue())
    return CliResult(code, out.getvalue(), err.getvalue())
