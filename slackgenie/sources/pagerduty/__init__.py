"""PagerDuty as an on-call source (REST API v2).

The wire, as PagerDuty documents it: ``Authorization: Token token=…`` and the versioned
``Accept`` header; ``GET /oncalls`` with ``schedule_ids[]`` (a hundred per request) and
``include[]=users`` answers who is on call in every configured schedule with their e-mails, in
offset pages (``more``). An entry's ``start``/``end`` are the shift's own bounds, so handoffs
need no rotation maths: the forecast is the same call over the next day, read hourly.

PagerDuty answers one status for a whole ``/oncalls`` request, so one schedule it refuses (a 403
for a schedule of a team the key may not see, a 404 for one deleted since it was listed, a 5xx)
would fail its hundred: such a batch is split in halves and asked again until the schedule at
fault is alone (see ``batches.py``).

A person is named by their e-mail, lower-cased, unless ``users:`` has an entry for their
PagerDuty user id: then by that entry's key, which the plan maps (the e-mail may be a shared
address, or none Slack knows). ``on_calls``, ``stretches`` and ``members`` name people alike.

A schedule that no escalation policy uses has no entries in ``/oncalls`` whoever is on call, so
an empty answer is never taken for "nobody" on its own word: it is confirmed with
``GET /schedules/{id}/users`` for that instant (one call per such schedule).
Schedules are named by id or by name (looked up in the paged schedule list, kept an hour).

Taking a shift from Slack: a schedule's members are the users of its (unended) layers, from
``GET /schedules/{id}``, with their e-mails from ``GET /users/{id}`` (kept an hour). Overrides
are created with ``POST /schedules/{id}/overrides`` (one per request, never retried), which
answers 201 with one status per requested override (``status`` 201: created); they are listed
with ``GET /schedules/{id}/overrides`` over the next 90 days (``overflow=true``: their own
bounds, not the range's; not ``editable=true``, which answers ids only) and deleted with
``DELETE /schedules/{id}/overrides/{override_id}`` (PagerDuty truncates one under way to now:
200 rather than 204; either is done, and so is a 404: gone already, and a refusal to remove a past
override that no longer reaches past now: one a retry finds truncated by its own first attempt).

Escalation levels (``escalation: {policy, level}``): the policy found by name with
``GET /escalation_policies?query=`` (or by id), read again each pass; who is on call at level N
is ``GET /oncalls`` by ``escalation_policy_ids[]``, the entries at level N kept (schedule shifts,
and users named directly on the level as permanent on-calls); see ``escalations.py``.

Where things are:
- ``settings.py``: the credentials from the environment (``PAGERDUTY_API_TOKEN``, ``PAGERDUTY_API_URL``);
  ``SPEC`` (below) says how the rest of Slackgenie reads them and builds the source.
- ``wire.py``: PagerDuty's JSON, as pydantic models an answer must fit.
- ``client.py``: the HTTP calls, one per endpoint, and the offset paging of the lists.
- ``batches.py``: ``/oncalls`` a hundred schedules (or policies) a request, and a failed batch narrowed down.
- ``escalations.py``: escalation levels: the policies, who is on call at a level, its handoffs and shifts.
- ``source.py``: ``PagerDutySource``, the ``OnCallSource``: on-calls, forecast, shifts, members and
  overrides; the schedule list and users' e-mails it keeps.
"""

from slackgenie.core.clock import Clock
from slackgenie.retry import ApiObserver, Stop
from slackgenie.sources.base import ProviderSpec, SourceOptions
from slackgenie.sources.pagerduty.client import PagerDutyClient
from slackgenie.sources.pagerduty.settings import PagerDutySecrets, load
from slackgenie.sources.pagerduty.source import PagerDutySource


def build(secrets: PagerDutySecrets, options: SourceOptions, clock: Clock, observer: ApiObserver | None,
          stop: Stop) -> PagerDutySource:
    return PagerDutySource(PagerDutyClient(secrets, options.retry, observer=observer, stop=stop),
                           options.concurrency,
                           clock.now, user_map=options.users, pass_deadline=options.pass_deadline)


SPEC = ProviderSpec("pagerduty", load, build, credentials="PAGERDUTY_API_TOKEN",
                    urls="PAGERDUTY_API_URL (EU accounts: https://api.eu.pagerduty.com)")

__all__ = ["SPEC", "PagerDutySource"]
