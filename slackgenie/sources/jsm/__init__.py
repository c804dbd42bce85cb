"""JSM Operations (Opsgenie's successor in Jira Service Management) as an on-call source.

The wire, as Atlassian documents it: Basic auth (``JSM_EMAIL`` : ``JSM_API_TOKEN``); the Ops API
at ``{JSM_API_URL}/jsm/ops/api/{cloudId}/v1`` with no envelope; the cloud id from
``{JSM_SITE_URL}/_edge/tenant_info`` unless ``JSM_CLOUD_ID`` gives it; schedules addressed by id
only (names are looked up in the paged schedule list, ``size`` ≤ 50, ``links.next``); on-call
answers are Atlassian account ids (``onCallUsers`` with ``flat=true``), turned into e-mails with
Jira's ``/rest/api/3/user/bulk`` on the site (explicit ``maxResults``: its default of 10 would
silently drop the rest; a server may still answer fewer, with ``isLast: false`` and ``nextPage``,
so the pages are followed to the end), cached. An account id that ``users:`` maps is the person
whatever its e-mail (the mapping is the operator's word, the e-mail only Jira's); where profile
privacy hides an e-mail, the account id is the person, and the plan asks for a ``users:`` mapping.

JSM Ops has no all-schedules on-call answer, so a pass reads only the schedules it needs,
concurrently within ``concurrency``; and a schedule whose answer was read less than
``jsm.recheck`` seconds ago, whose timeline foresees no handoff since, is not read again.
Handoffs come from each schedule's timeline (one read per schedule per 6 hours, overrides
included), so the daemon wakes at each one.

Escalation levels (``escalations.py``): JSM Ops lists escalations per team only, so a policy is
found among the escalations of the teams owning the visible schedules, its place kept, the policy
itself read again every pass. A team recipient cannot be read as people with these credentials
(``escalations.no_members`` gives the evidence): its groups fail naming the fix.

The files: ``settings.py`` reads the credentials and addresses from the environment
(``JsmSecrets``); ``wire.py`` holds the JSON of JSM Ops and of Jira's user API as pydantic models;
``client.py`` makes the HTTP calls (``JsmClient``: the cloud id, paging, overrides, users);
``source.py`` is the ``OnCallSource`` (``JsmSource``: caches, reads, forecasts, overrides); and here
are ``build`` and ``SPEC``, what the rest of Slackgenie knows of the provider (it ties the
settings to the source, so it sits above both).
"""

from __future__ import annotations

from slackgenie.core.clock import Clock
from slackgenie.retry import ApiObserver, Stop
from slackgenie.sources.base import ProviderSpec, SourceOptions
from slackgenie.sources.jsm.client import JsmClient
from slackgenie.sources.jsm.settings import JsmOptions, JsmSecrets, load
from slackgenie.sources.jsm.source import JsmSource


def build(secrets: JsmSecrets, options: SourceOptions, clock: Clock, observer: ApiObserver | None,
          stop: Stop) -> JsmSource:
    recheck = options.block.recheck if isinstance(options.block, JsmOptions) else JsmOptions().recheck
    return JsmSource(JsmClient(secrets, options.retry, observer=observer, stop=stop), options.concurrency,
                     recheck, clock.now, clock.monotonic, mapped=options.users)


SPEC = ProviderSpec("jsm", load, build, credentials="JSM_EMAIL and JSM_API_TOKEN",
                    urls="JSM_SITE_URL (https://<site>.atlassian.net), JSM_API_URL and JSM_CLOUD_ID",
                    block=JsmOptions)

__all__ = ["SPEC", "JsmSecrets", "JsmSource"]
