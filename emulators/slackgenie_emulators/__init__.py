"""Loopback emulators of the Opsgenie and Slack APIs, for the demo, the tests and the benchmarks."""

from __future__ import annotations

from datetime import datetime

from slackgenie_emulators.base import Clock
from slackgenie_emulators.opsgenie import OpsgenieEmulator
from slackgenie_emulators.sample import BOT_TOKEN, OPSGENIE_KEY, Org
from slackgenie_emulators.slack import SlackEmulator


class Emulators:
    """Both emulators for one organisation, sharing one clock."""

    def __init__(self, org: Org, at: datetime | None = None):
        self.org = org
        self.clock = Clock(frozen_at=at)
        self.opsgenie = OpsgenieEmulator(org.opsgenie, api_keys={OPSGENIE_KEY}, clock=self.clock)
        self.slack = SlackEmulator(org.slack, clock=self.clock)

    def start(self) -> "Emulators":
        self.opsgenie.start()
        self.slack.start()
        return self

    def stop(self) -> None:
        self.opsgenie.stop()
        self.slack.stop()

    def __enter__(self) -> "Emulators":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment that points Slackgenie at these emulators, and starts its clock at theirs."""
        return {
            "SLACKGENIE_NOW": self.clock.now().isoformat(),
            "OPSGENIE_API_KEY": OPSGENIE_KEY,
            "OPSGENIE_API_URL": self.opsgenie.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": self.slack.api_url,
        }

    def reset_logs(self) -> None:
        self.opsgenie.reset_log()
        self.slack.reset_log()

    def calls(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for server, prefix in ((self.opsgenie, "opsgenie"), (self.slack, "slack")):
            for r in server.requests:
                key = f"{prefix} {r.method} {r.path}" if prefix == "opsgenie" else f"slack {r.path.removeprefix('/api/')}"
                counts[key] = counts.get(key, 0) + 1
        return counts
