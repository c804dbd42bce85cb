"""iCalendar (RFC 5545) feeds as a provider (``provider: ical``): who is on call in a calendar
that incident.io, Rootly, Grafana IRM, PagerDuty, Opsgenie, Google or Outlook publish at a secret
``https``/``webcal`` address, one feed per schedule.

A feed is read, never written: it is its own forecast (``Forecasting``: handoffs, shifts and
gaps come from its events), and a shift is taken in the calendar or the service that publishes
it, not from Slack (no ``ShiftTaking``).

Where things are:
- ``settings.py``: the file's ``ical:`` block (``IcalOptions``: feeds by name, ``url_env`` or
  ``url``, ``person``, ``pattern``, ``refresh``) and the feeds' addresses from the environment
  (``IcalSecrets``: secrets, redacted everywhere).
- ``client.py``: one feed fetched with a conditional GET, under the shared deadlines, retries and
  size limit (``FeedClient``).
- ``feed.py``: a feed's bytes read into who is on call when (pure: ``parse_feed`` -> ``Feed``),
  with ``ics.py`` (the calendar read and checked), ``people.py`` (attendees or summaries),
  ``bounds.py`` (how much expanding its recurrences may cost) and ``errors.py``.
- ``kept.py``: per feed, the last good copy, when it may be read again, and why a read failed.
- ``source.py``: ``IcalSource``, the ``OnCallSource``; ``look`` is what `check` shows of a feed,
  ``where_to_take`` where a shift in it is taken (the service its PRODID names).
- here: ``build`` and ``SPEC``, the registry's entry.
"""

from slackgenie.core.clock import Clock
from slackgenie.retry import ApiObserver, Stop
from slackgenie.sources.base import ProviderSpec, SourceOptions
from slackgenie.sources.ical.client import FeedClient
from slackgenie.sources.ical.settings import IcalOptions, IcalSecrets, check_schedules, load
from slackgenie.sources.ical.source import FeedLook, FeedSpec, IcalSource


def build(secrets: IcalSecrets, options: SourceOptions, clock: Clock, observer: ApiObserver | None,
          stop: Stop) -> IcalSource:
    block = options.block if isinstance(options.block, IcalOptions) else IcalOptions()
    feeds = {name: FeedSpec(secrets.feeds[name].url.get_secret_value(), feed.person, feed.compiled, feed.refresh)
             for name, feed in block.feeds.items() if name in secrets.feeds}
    return IcalSource(feeds, FeedClient(options.retry, observer, stop), users=options.users,
                      concurrency=options.concurrency, now=clock.now, monotonic=clock.monotonic,
                      pass_deadline=options.pass_deadline)


SPEC = ProviderSpec("ical", load, build, credentials="each feed's url_env variable (its secret address)",
                    urls="each feed's url_env variable (its https:// or webcal:// address)", block=IcalOptions,
                    check_schedules=check_schedules)

__all__ = ["SPEC", "FeedLook", "IcalOptions", "IcalSource", "check_schedules"]
