"""Loopback emulators of the Opsgenie, JSM Ops, PagerDuty and Slack APIs and of calendar feeds, for
the demo, the tests and the benchmarks. The three schedule providers serve one organisation (the
Opsgenie state is its truth), each through its own wire contract, so one scenario runs against
any of them; the feed server serves whatever feeds a test sets (``ical.set_feed``), each feed
knowing its own truth (``ical.weekly_rotation``). The Kubernetes API server holds the Leases and
ConfigMaps of ``leader_election`` (``Emulators.kubeconfig`` writes the file that points a client at it)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from slackgenie_emulators.base import Clock, EmulatorServer
from slackgenie_emulators.ical import IcalEmulator
from slackgenie_emulators.jsm import JSM_EMAIL, JSM_TOKEN, JsmEmulator
from slackgenie_emulators.kubernetes import ALL, KUBE_TOKEN, KubernetesEmulator, kubeconfig
from slackgenie_emulators.opsgenie import OpsgenieEmulator
from slackgenie_emulators.pagerduty import PAGERDUTY_TOKEN, PagerDutyEmulator
from slackgenie_emulators.sample import BOT_TOKEN, OPSGENIE_KEY, Org
from slackgenie_emulators.slack import SlackEmulator


class Emulators:
    """Every emulator for one organisation, sharing one clock."""

    def __init__(self, org: Org, at: datetime | None = None):
        self.org = org
        self.clock = Clock(frozen_at=at)
        self.opsgenie = OpsgenieEmulator(org.opsgenie, api_keys={OPSGENIE_KEY}, clock=self.clock)
        self.jsm = JsmEmulator(org.opsgenie, clock=self.clock)
        self.pagerduty = PagerDutyEmulator(org.opsgenie, clock=self.clock)
        self.slack = SlackEmulator(org.slack, clock=self.clock)
        self.ical = IcalEmulator(clock=self.clock)  # no feed until a test sets one
        self.kubernetes = KubernetesEmulator(clock=self.clock, tokens={KUBE_TOKEN: ALL})  # more: add_token

    @property
    def servers(self) -> dict[str, EmulatorServer]:
        return {"opsgenie": self.opsgenie, "jsm": self.jsm, "pagerduty": self.pagerduty, "slack": self.slack,
                "ical": self.ical, "kubernetes": self.kubernetes}

    def start(self) -> "Emulators":
        for server in self.servers.values():
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

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
            "JSM_SITE_URL": self.jsm.url,  # one emulator plays the site (Jira, tenant_info) and the API
            "JSM_API_URL": self.jsm.url,
            "JSM_EMAIL": JSM_EMAIL,
            "JSM_API_TOKEN": JSM_TOKEN,
            "PAGERDUTY_API_TOKEN": PAGERDUTY_TOKEN,
            "PAGERDUTY_API_URL": self.pagerduty.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": self.slack.api_url,
        }

    def kubeconfig(self, path: Path, token: str = KUBE_TOKEN, namespace: str = "slackgenie") -> Path:
        """Write a kubeconfig pointing at the Kubernetes emulator with the bearer ``token`` (KUBE_TOKEN, which
        may do anything; register others with ``kubernetes.add_token``) and ``namespace`` in its context.
        ``path``: the file, or a directory to write ``kubeconfig`` in. Returns the file: set KUBECONFIG to it."""
        target = path / "kubeconfig" if path.is_dir() else path
        return kubeconfig(target, self.kubernetes.url, token, namespace)

    def reset_logs(self) -> None:
        for server in self.servers.values():
            server.reset_log()

    def feed_env(self, variables: dict[str, str]) -> dict[str, str]:
        """``{variable: feed name}`` as the environment holding each feed's secret address."""
        return {variable: self.ical.feed_url(name) for variable, name in variables.items()}

    def calls(self) -> dict[str, int]:
        """Requests by server and method and path; a feed's by its name (its path holds its secret)."""
        counts: dict[str, int] = {}
        for read in self.ical.reads():
            key = f"ical {read.method} {read.feed or '(no such feed)'}"
            counts[key] = counts.get(key, 0) + 1
        for prefix, server in self.servers.items():
            if server is self.ical:
                continue
            for r in server.requests:
                key = f"{prefix} {r.method} {r.path}" if prefix != "slack" else f"slack {r.path.removeprefix('/api/')}"
                counts[key] = counts.get(key, 0) + 1
        return counts
