"""Every provider Slackgenie can read, by the name `provider:` gives it. A new provider is a
module under sources/ with its ``SPEC``, one line here, and its title in model.PROVIDER_TITLES."""

from __future__ import annotations

from slackgenie.sources import ical, jsm, opsgenie, pagerduty
from slackgenie.sources.base import ProviderSpec

PROVIDERS: dict[str, ProviderSpec] = {spec.name: spec for spec in (opsgenie.SPEC, jsm.SPEC, pagerduty.SPEC,
                                                                      ical.SPEC)}
