"""Sample organisations for the demo, the tests and the benchmarks.

``sample_org``: a few teams with daily, weekly and business-hours rotations, an override, a
user whose Opsgenie and Slack e-mails differ, a stale group and a group whose schedule is
empty at night. ``scaled_org``: N schedules and N groups, for measuring API calls per pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.slack import SlackState

BOT_TOKEN = "xoxb-1111-2222-emulatortoken"
OPSGENIE_KEY = "0b7c1a2e-demo-4c1e-9d6f-emulatorkey1"

# The demo's clock: Monday 2026-11-23, two minutes before the 09:00 UTC handoffs.
DEMO_START = datetime(2026, 11, 23, 8, 58, tzinfo=timezone.utc)
DEMO_AFTER_HANDOFF = datetime(2026, 11, 23, 9, 1, tzinfo=timezone.utc)

PEOPLE = [  # (Opsgenie username, Slack e-mail, name)
    ("alice@example.com", "alice@example.com", "Alice Archer"),
    ("bob@example.com", "bob@example.com", "Bob Baker"),
    ("carol@example.com", "carol@example.com", "Carol Chen"),
    ("dave@example.com", "dave@example.com", "Dave Diaz"),
    ("erin@example.com", "erin@example.com", "Erin Evans"),
    ("frank.og@example.com", "frank@example.com", "Frank Fischer"),
    ("grace@example.com", "grace@example.com", "Grace Green"),
    ("heidi@example.com", "heidi@example.com", "Heidi Hall"),
    ("ivan@example.com", "ivan@example.com", "Ivan Ivanov"),
    ("dana.lead@example.com", "dana.lead@example.com", "Dana Lead"),
]

SAMPLE_CONFIG = """\
interval: 60
syncs:
  - usergroup: delivery-support
    schedules: [Delivery Support_schedule]
    users: [dana.lead@example.com]
  - usergroup: payments-oncall
    schedules: [Payments_schedule]
  - usergroup: platform-oncall
    schedules: [Platform_schedule]
    when_empty: fallback
    fallback: [ivan@example.com]
users:
  frank.og@example.com: frank@example.com
"""


# The same organisation read from three providers at once, as a team mid-migration would: Delivery
# still in Opsgenie, Payments in PagerDuty, Platform already moved to JSM Ops.
MIXED_CONFIG = """\
interval: 60
provider: opsgenie
syncs:
  - usergroup: delivery-support
    schedules: [Delivery Support_schedule]
    users: [dana.lead@example.com]
  - usergroup: payments-oncall
    provider: pagerduty
    schedules: [Payments_schedule]
  - usergroup: platform-oncall
    provider: jsm
    schedules: [Platform_schedule]
    when_empty: fallback
    fallback: [ivan@example.com]
users:
  frank.og@example.com: frank@example.com
"""


@dataclass
class Org:
    opsgenie: OpsgenieState
    slack: SlackState
    config_yaml: str


def sample_org() -> Org:
    og = OpsgenieState()
    slack = SlackState()
    slack.add_token(BOT_TOKEN, "bot")
    for username, email, name in PEOPLE:
        og.add_user(username, name)
        slack.add_user(email.split("@")[0], email, name)
    og.add_team("Delivery", ["alice@example.com", "bob@example.com", "carol@example.com"])
    og.add_team("Payments", ["dave@example.com", "erin@example.com", "grace@example.com"], admins=["grace@example.com"])
    og.add_team("Platform", ["frank.og@example.com", "heidi@example.com", "ivan@example.com"])

    og.add_schedule("Delivery Support_schedule", "UTC", team="Delivery", rotations=[{
        "name": "Daily", "type": "daily", "length": 1, "startDate": "2026-11-02T09:00:00Z",
        "participants": [_u("alice"), _u("bob"), _u("carol")],
    }])
    payments = og.add_schedule("Payments_schedule", "Europe/London", team="Payments", rotations=[{
        "name": "Weekly", "type": "weekly", "length": 1, "startDate": "2026-11-02T09:00:00Z",
        "participants": [_u("dave"), _u("erin")],
    }])
    # Grace covers Erin's first day of the week.
    og.add_override(payments, "grace@example.com", datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc),
                    datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc), alias="grace-covers-erin")
    og.add_schedule("Platform_schedule", "Europe/London", team="Platform", rotations=[{
        "name": "Business hours", "type": "daily", "length": 1, "startDate": "2026-11-03T09:00:00Z",
        "participants": [_u("frank.og"), _u("heidi")],
        "timeRestriction": {"type": "weekday-and-time-of-day", "restrictions": [
            {"startDay": d, "startHour": 9, "startMin": 0, "endDay": d, "endHour": 17, "endMin": 0}
            for d in ("monday", "tuesday", "wednesday", "thursday", "friday")]},
    }])

    # Opsgenie's own example policy: the schedule at once, the whole team after 15 minutes, the
    # lead after 30 (../shared/specs/escalations/REFERENCE.md §0).
    og.add_escalation("Payments Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": {"type": "schedule", "name": "Payments_schedule"}},
        {"delay": 15, "notifyType": "all", "recipient": {"type": "team", "name": "Payments"}},
        {"delay": 30, "notifyType": "default", "recipient": {"type": "user", "username": "dana.lead@example.com"}},
    ], team="Payments")

    def ids(*emails: str) -> list[str]:
        return [slack.user_by_email(e).id for e in emails]  # type: ignore[union-attr]

    slack.add_group("delivery-support", "Delivery Support", ids("bob@example.com", "dana.lead@example.com"))
    slack.add_group("payments-oncall", "Payments On-call", ids("dave@example.com"))
    slack.add_group("platform-oncall", "Platform On-call", ids("heidi@example.com"))
    slack.add_channel("delivery")
    slack.add_channel("payments")
    return Org(og, slack, SAMPLE_CONFIG)


def scaled_org(groups: int, people: int = 60) -> Org:
    """``groups`` schedules and groups; each schedule a daily rotation of three of ``people`` users."""
    og = OpsgenieState()
    slack = SlackState()
    slack.add_token(BOT_TOKEN, "bot")
    emails = [f"person{i:03d}@example.com" for i in range(people)]
    for email in emails:
        og.add_user(email)
        slack.add_user(email.split("@")[0], email)
    lines = ["interval: 60", "concurrency: 8", "syncs:"]
    for g in range(groups):
        trio = [emails[(g + k * 7) % people] for k in range(3)]
        og.add_schedule(f"Team {g:03d}_schedule", "UTC", rotations=[{
            "name": "Daily", "type": "daily",
            "startDate": f"2026-11-{1 + g % 7:02d}T{g % 24:02d}:{30 if g % 5 == 0 else 0:02d}:00Z",
            "participants": [{"type": "user", "username": u} for u in trio],
        }])
        slack.add_group(f"team-{g:03d}-oncall", f"Team {g:03d} on-call")
        lines += [f"  - usergroup: team-{g:03d}-oncall", f"    schedules: [Team {g:03d}_schedule]"]
    return Org(og, slack, "\n".join(lines) + "\n")


def _u(name: str) -> dict[str, str]:
    return {"type": "user", "username": f"{name}@example.com"}
