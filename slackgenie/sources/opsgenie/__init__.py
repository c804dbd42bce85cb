"""Opsgenie (Atlassian's on-call service, REST API v2) as a provider: who is on call in each
schedule, when that changes, and shifts taken as overrides.

- ``settings.py``: the API key and address from the environment, and ``SPEC`` (the registry's entry)
- ``wire.py``: Opsgenie's JSON read into typed values (on-call answers, schedules and rotations,
  overrides); the only place that reads Opsgenie's dicts
- ``client.py``: the HTTP calls (``OpsgenieClient``)
- ``source.py``: the on-call source built on them (``OpsgenieSource``)
"""

from slackgenie.sources.opsgenie.client import OpsgenieClient
from slackgenie.sources.opsgenie.settings import SPEC
from slackgenie.sources.opsgenie.source import OpsgenieSource

__all__ = ["SPEC", "OpsgenieClient", "OpsgenieSource"]
