"""Wiring: one validated Config -> the parts (sources, the Slack target, the engine's pieces):
the one place that builds them, and the service that holds them, with the few questions the
commands and the app ask of it (so that none of them reaches through its parts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from slack_sdk import WebClient

from slackgenie.core.clock import Clock, RealClock
from slackgenie.core.facts import FactStore
from slackgenie.core.model import OnCall, PassReport, ReadFailure, Resolution, ScheduleInfo
from slackgenie.engine.coverage import Coverage
from slackgenie.engine.daemon import Daemon
from slackgenie.engine.headsup import HeadsUps
from slackgenie.engine.passes import Passes, Waiting
from slackgenie.engine.reconcile import Reconciler
from slackgenie.engine.state import StateStore
from slackgenie.environment import ConfigError, ProviderSecrets
from slackgenie.retry import Stop
from slackgenie.settings import Config, LeaderElection
from slackgenie.slack.channels import ChannelIds
from slackgenie.slack.client import make_web_client
from slackgenie.slack.delivery import OPEN, WriteGate
from slackgenie.slack.directory import Directory
from slackgenie.slack.dm import DirectMessages
from slackgenie.slack.notify import Notifier
from slackgenie.slack.pacer import TIERS, Pacer
from slackgenie.slack.refusals import METRIC_CODES
from slackgenie.slack.target import WRITE, SlackTarget
from slackgenie.slack.workspaces import TokenKind, token_kind
from slackgenie.sources.base import Look, OnCallSource
from slackgenie.sources.providers import PROVIDERS
from slackgenie.sources.routed import RoutedSource
from slackgenie.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from slackgenie.kube.lease import Lease

log = structlog.get_logger("slackgenie.wiring")


@dataclass(frozen=True)
class Next:
    """A set of schedules' next handoff (None: none foreseen) and who is on call from then."""

    at: datetime | None
    on_call: Mapping[str, OnCall | ReadFailure]


@dataclass
class Service:
    config: Config
    slack: WebClient
    metrics: Metrics
    reconciler: Reconciler
    clock: Clock
    state: FactStore  # the state file, or with leader_election the ConfigMap every replica shares
    source: RoutedSource  # who should be on call, by schedule key: what the app, status and check ask too
    directory: Directory  # people <-> Slack users, shared with the app
    headsups: HeadsUps
    stop: Stop  # asked on SIGTERM/SIGINT: every client, the pacer and the pass see it
    passes: Passes
    coverage: Coverage
    lookups: ThreadPoolExecutor  # ``concurrency`` threads: a pass's Slack reads, and every look-up
    token_kind: TokenKind | None = None  # what auth.test said of the token (None: Slack did not answer)
    lease: Lease | None = None  # leader_election: the one writer among replicas (``run`` starts it)
    _planning_only: bool = False  # the last pass only planned, for want of the lease (said once per change)

    @property
    def schedule_keys(self) -> list[str]:
        return sorted({key for s in self.config.syncs for key in s.keys})

    @property
    def providers(self) -> list[str]:
        """The providers this service reads (those some sync names)."""
        return sorted(self.config.secrets.providers)

    def may_write(self) -> bool:
        """Whether this process writes to Slack now: always, but with leader_election only while it
        holds the lease (by a margin)."""
        return self.lease is None or self.lease.may_write()

    def run_pass(self, dry_run: bool = False, at: datetime | None = None) -> PassReport:
        """A pass; with leader_election, a replica that does not hold the lease only reads and plans
        (its app, /metrics and /readyz stay fresh), and the holder writes."""
        if not dry_run and at is None and self.lease is not None:
            planning = not self.lease.may_write()
            if planning != self._planning_only:
                log.info("pass.read_only" if planning else "pass.writing", lease=self.lease.name,
                         reason="another replica holds the lease" if planning else "this replica holds the lease")
                self._planning_only = planning
            dry_run = planning
        return self.passes.run(dry_run=dry_run, at=at)

    def run_through_backlog(self, budget: float | None, report_to: Callable[[PassReport], None],
                            waiting: Waiting | None = None) -> PassReport:
        return self.passes.through_backlog(budget, report_to, waiting, self.may_write)

    def watch_gaps(self, wait: bool = False) -> None:
        self.coverage.watch(wait)

    def next_handoff(self, after: datetime) -> datetime | None:
        """The daemon's next wake-up for the schedules: a handoff, or a heads-up falling due."""
        moments = [self.source.next_handoff(self.schedule_keys, after), self.headsups.next_at(after)]
        return min((m for m in moments if m is not None), default=None)

    def daemon(self, on_report: Callable[[PassReport], None], read_only: bool = False) -> Daemon:
        """The loop over this service's passes (``read_only``: plans only, for ``serve``)."""
        f = self.config.file
        return Daemon(lambda: self.run_pass(dry_run=read_only), f.interval, on_report=on_report,
                      guard=f.handoff_guard, clock=self.clock, pass_deadline=f.pass_deadline,
                      next_handoff=self.next_handoff if f.handoffs else None, stop=self.stop)

    def upcoming(self, groups: Mapping[str, Sequence[str]], after: datetime) -> dict[str, Next]:
        """For each named set of schedule keys: its next handoff after ``after``, and who is on
        call from then (one read per distinct instant)."""
        at = {name: self.source.next_handoff(keys, after) for name, keys in groups.items()}
        reads = {t: self.source.on_calls([k for name, keys in groups.items() if at[name] == t for k in keys], t)
                 for t in sorted({t for t in at.values() if t is not None})}
        return {name: Next(t, reads[t] if t is not None else {}) for name, t in at.items()}

    def look(self, key: str) -> Look | ReadFailure | None:
        """A schedule read whole and described for `check` from now (None: its provider cannot)."""
        return self.source.look(key, self.clock.now())

    def catalog_of(self, provider: str) -> list[ScheduleInfo]:
        """One provider's schedules as it names them (raises its errors)."""
        return self.source.catalog_of(provider)

    def resolve_many(self, identities: Iterable[str]) -> dict[str, Resolution]:
        """People (e-mail or Slack id) -> Slack users, looked up ``concurrency`` at a time."""
        return self.directory.resolve_many(identities, self.lookups)

    def labels(self, user_ids: Iterable[str]) -> dict[str, str]:
        """A readable name for each Slack id (the id itself where none can be had)."""
        ids = sorted(set(user_ids))
        return dict(zip(ids, self.lookups.map(self.directory.label, ids)))

    def close(self) -> None:
        if self.lease is not None:
            self.lease.stop()
        self.headsups.close()
        self.source.close()
        self.lookups.shutdown(wait=False, cancel_futures=True)


def sources(config: Config, clock: Clock, observer: Metrics | None, stop: Stop) -> RoutedSource:
    """One source per provider some sync reads (the only ones with credentials)."""
    return RoutedSource({name: PROVIDERS[name].build(secrets, config.source_options(name), clock, observer, stop)
                         for name, secrets in config.secrets.providers.items()})


def source_for(config: Config, provider: str, secrets: ProviderSecrets) -> OnCallSource:
    """A provider's own source outside any service (``check`` looks at a provider no sync reads
    yet): the wall clock, no metrics, and a stop of its own (nothing asks it)."""
    return PROVIDERS[provider].build(secrets, config.source_options(provider), RealClock(), None, Stop())


def build(config: Config, metrics: Metrics | None = None, clock: Clock | None = None, settle: bool = True) -> Service:
    """``settle``: learn the token's kind and hold ``workspace`` to it (a ConfigError); ``check``
    does it itself, to say it as one of its items."""
    f, secrets = config.file, config.secrets
    clock = clock or RealClock()
    metrics = metrics or Metrics(f.interval, statuses=METRIC_CODES)
    metrics.expect_groups(s.usergroup for s in config.syncs)
    stop = Stop()
    pacer = Pacer({**TIERS, WRITE: f.slack_writes_per_minute}, stop=stop)  # shared by every write of this process
    slack = make_web_client(secrets.slack_bot_token, secrets.slack_api_url, f.retry, observer=metrics, pacer=pacer,
                            stop=stop)
    # Relative paths are taken from the working directory: the config often sits read-only in
    # /etc or a ConfigMap, while the service runs in a writable state directory.
    directory = Directory(slack, Path(f.cache_file) if f.cache_file else None)
    kind = settle_workspaces(config, slack, directory) if settle else None
    source = sources(config, clock, metrics, stop)
    lease: Lease | None = None
    gate: WriteGate = OPEN
    state: FactStore
    if f.leader_election is not None:
        state, lease = replicated(config, f.leader_election, clock, metrics)
        gate = lease
    else:
        state = StateStore(Path(f.state_file), clock.now)
    lookups = ThreadPoolExecutor(max_workers=f.concurrency, thread_name_prefix="lookups")
    notifier = Notifier(slack, directory, state, lambda keys: source.next_handoff(keys, clock.now()), clock.now,
                        gate)
    reconciler = Reconciler(config, source, SlackTarget(slack, directory, pacer, gate), directory, lookups, notifier,
                            clock.now, stop, ChannelIds(slack, directory),
                            lambda keys: source.next_handoff(keys, clock.now()))
    # HeadsUps asks only for the facts (engine/headsup.py still names the file's store)
    headsups = HeadsUps(config, source, DirectMessages(slack, directory, f.users, gate), state,
                        clock.monotonic, clock.now)
    passes = Passes(reconciler, headsups, state, source, metrics, clock, stop)
    coverage = Coverage(source, sorted({k for s in config.syncs for k in s.keys}), metrics, clock.now)
    return Service(config, slack, metrics, reconciler, clock, state, source, directory, headsups, stop, passes,
                   coverage, lookups, kind, lease)


def replicated(config: Config, election: LeaderElection, clock: Clock, metrics: Metrics) -> tuple[FactStore, Lease]:
    """leader_election: the state in a ConfigMap every replica shares, and the Lease (not started:
    ``run`` starts it; until then this process does not write). ConfigError when no credentials
    for the Kubernetes API are found."""
    # Imported here: the kubernetes client takes half a second to import, and only this needs it.
    from slackgenie.kube.client import NoCredentials, connect
    from slackgenie.kube.lease import Lease, identity
    from slackgenie.kube.store import ConfigMapStore

    try:
        kube = connect(election.namespace)
    except NoCredentials as exc:
        raise ConfigError(str(config.path), "leader_election", str(exc),
                          "run in a pod with a service account token, or set KUBECONFIG; or remove "
                          "leader_election to run one replica with the state file") from None
    state = ConfigMapStore(kube.core, kube.namespace, election.state or f"{election.lease}-state", clock.now)
    # On the real clocks, whatever SLACKGENIE_NOW says: the lease is about this moment, not a schedule's.
    lease = Lease(kube.leases, kube.namespace, election.lease, election.duration, identity())
    lease.listen(metrics.leader)
    metrics.leader(False)
    return state, lease


def settle_workspaces(config: Config, slack: WebClient, directory: Directory) -> TokenKind | None:
    """The token's kind (``auth.test``, kept a day beside the user cache), before any other call,
    and what it makes of ``workspace``: a ConfigError (exit 2) for a sync an org-level token cannot
    act for (none named), or a workspace not the token's own. Where Slack did not answer, the
    passes say why in their own words (and Slack's refusal of the first read names the fix)."""
    kind = token_kind(slack, directory)
    if kind is None:
        return None
    problem = config.workspace_error(kind.org, kind.team)
    if problem is not None:
        raise problem
    if kind.org:  # users.list lists one workspace: those the groups are in; people by their global id
        directory.list_teams = tuple(w for w in config.workspaces if w)
        directory.org = True
    return kind
