"""Opsgenie (Atlassian's on-call service, REST API v2) as a provider: who is on call in each
schedule, when that changes, and shifts taken as overrides.

- ``settings.py``: the API key and address from the environment
- ``wire.py``: Opsgenie's JSON read into typed values (on-call answers, schedules and rotations,
  overrides, escalation policies, teams, the next on-call); the only place that reads Opsgenie's dicts
- ``client.py``: the HTTP calls (``OpsgenieClient``)
- ``forecast.py``: handoffs foreseen from the rotations, run forward with the rotation maths
- ``escalations.py``: escalation levels: the policies read, each level's recipient read as
  Opsgenie notifies it (``sources/levels.py`` says which rule and what it means)
- ``source.py``: the on-call source built on them (``OpsgenieSource``)
- here: ``build`` and ``SPEC``, the registry's entry (it ties the settings to the source)
"""

from slackgenie.core.clock import Clock
from slackgenie.retry import ApiObserver, Stop
from slackgenie.sources.base import ProviderSpec, SourceOptions
from slackgenie.sources.opsgenie.client import OpsgenieClient
from slackgenie.sources.opsgenie.settings import OpsgenieSecrets, load
from slackgenie.sources.opsgenie.source import OpsgenieSource


def build(secrets: OpsgenieSecrets, options: SourceOptions, clock: Clock, observer: ApiObserver | None,
          stop: Stop) -> OpsgenieSource:
    client = OpsgenieClient(secrets.api_url, secrets.key, options.retry, observer=observer, stop=stop)
    return OpsgenieSource(client, options.concurrency, clock.now)


SPEC = ProviderSpec("opsgenie", load, build, credentials="OPSGENIE_API_KEY",
                    urls="OPSGENIE_API_URL (EU accounts: https://api.eu.opsgenie.com)")

__all__ = ["SPEC", "OpsgenieClient", "OpsgenieSource"]
