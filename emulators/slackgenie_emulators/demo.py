"""`slackgenie demo`: the embedded default, end to end against local emulators.

It lives with the emulators, not in the product: `pip install slackgenie` ships no test
servers. The product's CLI finds it through the entry point this package declares
(``slackgenie.demo``), so no product module imports this package.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from slack_bolt.request import BoltRequest

from slackgenie.app.runner import SlackApp
from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.core.model import PassReport
from slackgenie.telemetry.logging import configure_logging
from slackgenie.ops.report import render
from slackgenie.wiring import Service, build
from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF, DEMO_START, MIXED_CONFIG, SAMPLE_CONFIG, sample_org

DEMO_SIGNING_SECRET = "demo-signing-secret-not-a-real-one"


def _groups(emulators: Emulators, title: str) -> None:
    print(f"\n{title}")
    state = emulators.slack.state
    for handle in ("delivery-support", "payments-oncall", "platform-oncall"):
        print(f"  @{handle:<18} {', '.join(state.emails_of(handle)) or '(empty)'}")


def _short(calls: dict[str, int]) -> dict[str, int]:
    """Calls by path, JSM Ops' cloud id and schedule ids shortened to keep a line readable."""
    out: dict[str, int] = {}
    for key, n in calls.items():
        key = re.sub(r"/jsm/ops/api/[^/]+/v1", "/…/v1", key)
        key = re.sub(r"/schedules/[0-9a-f-]{36}/", "/schedules/{id}/", key)
        out[key] = out.get(key, 0) + n
    return out


def _pass(emulators: Emulators, service: Service, app: SlackApp, title: str) -> PassReport:
    print(f"\n== {title} (emulator clock: {emulators.clock.now():%a %Y-%m-%d %H:%M} UTC)")
    emulators.reset_logs()
    report = service.run_pass()
    print(render(report))
    calls = _short(emulators.calls())
    writes = sum(n for k, n in calls.items() if k.endswith("usergroups.users.update"))
    print(f"   API calls this pass: {sum(calls.values())} ({writes} write{'s' if writes != 1 else ''}): "
          + ", ".join(f"{k} x{n}" for k, n in sorted(calls.items())))
    emulators.reset_logs()
    app.refresh(report)  # as the daemon does: the Slack app answers from what this pass learnt
    extra = sum(emulators.calls().values())
    if extra:
        print(f"   + {extra} call(s) for the Slack app's snapshot (forecast, who is next, their Slack ids)")
    return report


def _ask(emulators: Emulators, app: SlackApp, text: str) -> None:
    """A signed /oncall request through Bolt, as Slack would send it; the answer shown as plain text."""
    body = form_body(slash_command(text, "U00000002", emulators.slack.response_url("demo")))
    headers: dict[str, str | Sequence[str]] = {**signed_headers(DEMO_SIGNING_SECRET, body,
                                                                "application/x-www-form-urlencoded")}
    response = app.bolt.dispatch(BoltRequest(body=body, headers=headers))
    answer = json.loads(response.body)["text"]
    users = emulators.slack.state.users
    answer = re.sub(r"<@(\w+)>", lambda m: "@" + (users[m.group(1)].name if m.group(1) in users else m.group(1)), answer)
    answer = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", answer)
    print(f"\n/oncall {text}".rstrip())
    print("\n".join("  " + line for line in answer.splitlines()))


def run_demo(provider: str = "mixed") -> int:
    """``provider``: mixed (each group from another provider), or opsgenie, jsm or pagerduty for all."""
    configure_logging(level="error")
    org = sample_org()
    text = MIXED_CONFIG if provider == "mixed" else f"provider: {provider}\n" + SAMPLE_CONFIG
    with Emulators(org, at=DEMO_START) as emulators, tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "slackgenie.yaml"
        config_path.write_text(text + f"state_file: {tmp}/state.json\ncache_file: {tmp}/cache.json\n")  # nothing left behind
        print("Slackgenie demo: one organisation served by emulators of Opsgenie", emulators.opsgenie.url,
              "JSM Ops", emulators.jsm.url, "PagerDuty", emulators.pagerduty.url, "and Slack", emulators.slack.url)
        print(f"\nConfiguration ({config_path.name}; `slackgenie demo --provider opsgenie|jsm|pagerduty` "
              "reads every group from one provider):\n" + "\n".join("  " + l for l in text.splitlines()))
        env = {**emulators.env(), "SLACK_SIGNING_SECRET": DEMO_SIGNING_SECRET}
        service = build(load(str(config_path), env), clock=SteppedClock(emulators.clock))
        try:
            app = SlackApp(service)
            _groups(emulators, "Slack user groups before:")
            ok = _pass(emulators, service, app, "First sync").ok
            ok &= _pass(emulators, service, app, "Second sync, nothing changed").ok
            emulators.clock.set(DEMO_AFTER_HANDOFF)
            print("\n>> The clock moves across the 09:00 handoff: Delivery's daily rotation turns, "
                  "Grace's override starts on Payments, Platform's business hours begin.")
            ok &= _pass(emulators, service, app, "Sync after the handoff").ok
            _groups(emulators, "Slack user groups after:")
            print("\n== And in Slack, the app answers from what the last pass learnt:")
            _ask(emulators, app, "")
            _ask(emulators, app, "next @Payments-Oncall")
        finally:
            service.close()
    print("\nDemo finished:", "all groups in sync." if ok else "some group could not be synced.")
    return 0 if ok else 1
