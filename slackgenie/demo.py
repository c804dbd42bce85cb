"""`slackgenie demo`: the embedded default, end to end against local emulators."""

from __future__ import annotations

import tempfile
from pathlib import Path

from slackgenie.config import load
from slackgenie.emulators import Emulators
from slackgenie.emulators.sample import DEMO_AFTER_HANDOFF, DEMO_START, sample_org
from slackgenie.report import render
from slackgenie.service import build


def _groups(emulators: Emulators, title: str) -> None:
    print(f"\n{title}")
    state = emulators.slack.state
    for handle in ("delivery-support", "payments-oncall", "platform-oncall"):
        print(f"  @{handle:<18} {', '.join(state.emails_of(handle)) or '(empty)'}")


def _pass(emulators: Emulators, service, title: str) -> bool:  # type: ignore[no-untyped-def]
    print(f"\n== {title} (emulator clock: {emulators.clock.now():%a %Y-%m-%d %H:%M} UTC)")
    emulators.reset_logs()
    report = service.reconciler.run_pass()
    print(render(report))
    calls = emulators.calls()
    writes = sum(n for k, n in calls.items() if k.endswith("usergroups.users.update"))
    print(f"   API calls this pass: {sum(calls.values())} ({writes} write{'s' if writes != 1 else ''}): "
          + ", ".join(f"{k} x{n}" for k, n in sorted(calls.items())))
    return report.ok


def run_demo() -> int:
    org = sample_org()
    with Emulators(org, at=DEMO_START) as emulators, tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "slackgenie.yaml"
        config_path.write_text(org.config_yaml)
        print("Slackgenie demo: Opsgenie emulator at", emulators.opsgenie.url, "and Slack emulator at",
              emulators.slack.url)
        print(f"\nConfiguration ({config_path.name}):\n" + "\n".join("  " + l for l in org.config_yaml.splitlines()))
        service = build(load(str(config_path), emulators.env()))
        try:
            _groups(emulators, "Slack user groups before:")
            ok = _pass(emulators, service, "First sync")
            ok &= _pass(emulators, service, "Second sync, nothing changed")
            emulators.clock.set(DEMO_AFTER_HANDOFF)
            print("\n>> The clock moves across the 09:00 handoff: Delivery's daily rotation turns, "
                  "Grace's override starts on Payments, Platform's business hours begin.")
            ok &= _pass(emulators, service, "Sync after the handoff")
            _groups(emulators, "Slack user groups after:")
        finally:
            service.close()
    print("\nDemo finished:", "all groups in sync." if ok else "some group could not be synced.")
    return 0 if ok else 1
