"""YAML + environment -> one validated ``Config``.

Every error names the file, the key and the fix, and is raised before any API call. Above the
providers: each declares its credentials and, if it has one, its own block of the file
(``ProviderSpec.load`` / ``.block``); this module reads them through the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from slackgenie.core.durations import parse_duration
from slackgenie.core.ids import SLACK_WORKSPACE_ID, CHANNEL_NAME, SLACK_CHANNEL_ID, SLACK_HANDLE, is_slack_id
from slackgenie.core.model import PROVIDER_TITLES, level_ref, schedule_key
from slackgenie.core.clock import CLOCK_ENV, RealClock, clock_from_env
from slackgenie.configfile import config_path, explain, read_mapping
from slackgenie.environment import DEFAULT_SLACK_URL, ConfigError, ProviderSecrets, SlackEnvironment, environment
from slackgenie.sources.base import SourceOptions
from slackgenie.sources.providers import PROVIDERS
from slackgenie.retry import Number, RetryPolicy
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model, SecretStr, StrictBool, StrictInt, ValidationError,
                      field_validator, model_validator)

def _provider(value: str | None) -> str | None:
    if value is not None and value not in PROVIDER_TITLES:
        raise ValueError(f"{value!r} is not a provider: use one of {', '.join(PROVIDER_TITLES)}")
    return value


Provider = Annotated[str, AfterValidator(_provider)]


def _lead(value: object) -> timedelta | None:
    """``heads_up``: ``1h``, ``30m``, ``1h30m`` (1 minute to 1 day), or ``off``."""
    if value is None or isinstance(value, timedelta):
        return value
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return timedelta(0)
    lead = parse_duration(value, units="hm", least=timedelta(minutes=1), most=timedelta(days=1)) \
        if isinstance(value, str) else None
    if lead is None:
        raise ValueError(f"{value!r} is not a heads-up time: write how long before a shift, from 1m to 24h "
                         "(e.g. 1h, 30m, 1h30m), or off")
    return lead


HeadsUp = Annotated[timedelta | None, BeforeValidator(_lead)]
Taker = Annotated[Literal["rotation", "anyone", "off"], BeforeValidator(lambda v: "off" if v is False else v)]  # YAML: off is false

__all__ = ["DEFAULT_SLACK_URL", "Config", "ConfigError", "FileConfig", "GroupSync", "Secrets", "clock_of", "environment",
           "load", "parse_file"]




def _workspace(value: object) -> object:
    """``workspace``: a workspace's id (T…), as Slack's URLs and ``slackgenie check`` show it."""
    if isinstance(value, str) and not SLACK_WORKSPACE_ID.match(value.strip()):
        raise ValueError(f"{value!r} is not a Slack workspace id: write its team id (T…, e.g. T0123ABCD); "
                         "`slackgenie check` lists the workspaces the app is deployed to")
    return value.strip() if isinstance(value, str) else value


Workspace = Annotated[str | None, BeforeValidator(_workspace)]


def _check_identity(value: str) -> str:
    value = value.strip()
    if "@" in value or is_slack_id(value):
        return value
    raise ValueError(f"{value!r} is neither an e-mail address nor a Slack user id (U…/W…)")


class EscalationLevel(BaseModel):
    """``escalation: {policy: Payments Escalation, level: 2}``: everyone the policy notifies at that level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(min_length=1, max_length=255, description="the escalation policy's name or id")
    level: StrictInt = Field(ge=1, le=50, description="which of its levels (rules), counting from 1 in order of delay")

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the policy's name is empty: write its name or id")
        return value.strip()


_DNS_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class LeaderElection(BaseModel):
    """``leader_election:``: several replicas, one writer, on a Kubernetes Lease."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease: str = Field("slackgenie", min_length=1, max_length=253, pattern=_DNS_NAME,
                       description="the Lease's name (lower-case letters, digits, '-' and '.')")
    namespace: str | None = Field(None, min_length=1, max_length=63, pattern=_DNS_LABEL,
                                  description="the Lease's namespace (default: the pod's own)")
    duration: StrictInt = Field(15, ge=5, le=300, description="seconds a lease lasts without renewal")
    state: str | None = Field(None, min_length=1, max_length=253, pattern=_DNS_NAME,
                              description="the ConfigMap holding what was done once (default: <lease>-state)")


class GroupSync(BaseModel):
    """One Slack user group and where its members come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usergroup: str = Field(description="Slack user group handle, without @")
    provider: Provider | None = Field(None, description="where the schedules live (default: the top-level provider)")
    workspace: Workspace = Field(None, description="the Slack workspace (T…) holding the group (default: the "
                                                   "top-level one); needed with an org-level token")
    schedules: list[str] = Field(default_factory=list, description="schedule names or ids, in this sync's provider")
    escalation: EscalationLevel | None = Field(None, description="an escalation policy's level: everyone it "
                                                                 "notifies at that level now")
    users: list[str] = Field(default_factory=list, description="always members (e-mail or Slack id)")
    when_empty: Literal["keep", "fallback", "disable"] = "keep"
    fallback: list[str] = Field(default_factory=list)
    create: StrictBool = Field(False, description="create the group when its handle does not exist in Slack")
    name: str | None = Field(None, min_length=1, max_length=255,
                             description="the group's name when Slackgenie creates it (default: the handle)")
    description: str | None = Field(None, max_length=1000,
                                    description="the group's description, kept equal to this ({names}: who is on "
                                                "call, {until}: the next handoff)")
    channels: list[str] = Field(default_factory=list, description="the group's default channels, kept "
                                                                  "(#name or id)")
    announce: str | None = Field(None, description="channel to tell of every change (#name or id)")
    topic: str | None = Field(None, description="channel whose topic shows who is on call (#name or id)")
    heads_up: HeadsUp = Field(None, description="DM each person this long before their shift in this group's "
                                                "schedules (e.g. 1h; off: none here; default: the top-level one)")
    take: Taker | None = Field(None, description="who may take a shift from Slack (/oncall take): rotation, "
                                                 "anyone or off (default: the top-level one)")

    @field_validator("announce", "topic")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not (CHANNEL_NAME.match(value) or SLACK_CHANNEL_ID.match(value)):
            raise ValueError(f"{value!r} is not a channel: write '#channel-name' (quoted in YAML) or a channel id (C…)")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, values: list[str]) -> list[str]:
        return [v for v in (cls._channel(value) for value in values) if v is not None]

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            value.format_map({"names": "", "until": ""})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a description template: only {{names}} and {{until}} are replaced "
                             f"({type(exc).__name__}: {exc}); write a brace twice ({{{{ }}}}) to show it") from None
        return value

    @field_validator("usergroup")
    @classmethod
    def _handle(cls, value: str) -> str:
        handle = value.strip().lstrip("@")
        if not SLACK_HANDLE.match(handle):
            raise ValueError(
                f"{value!r} is not a Slack user group handle (lower-case letters, digits, '.', '_', '-')"
            )
        return handle

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if any(not v for v in cleaned):
            raise ValueError("a schedule name is empty")
        return cleaned

    @property
    def keys(self) -> tuple[str, ...]:
        """The schedules as the stages name them: provider and reference (``jsm:Payments``), and
        the escalation level, if any (``jsm:escalation:2:Payments Escalation``)."""
        refs = list(self.schedules)
        if self.escalation is not None:
            refs.append(level_ref(self.escalation.policy, self.escalation.level))
        return tuple(schedule_key(self.provider or "opsgenie", ref) for ref in refs)

    @field_validator("users", "fallback")
    @classmethod
    def _identities(cls, values: list[str]) -> list[str]:
        return [_check_identity(v) for v in values]

    @model_validator(mode="after")
    def _coherent(self) -> GroupSync:
        if not self.schedules and not self.users and self.escalation is None:
            raise ValueError("give at least one schedule, an escalation level or static users")
        if self.when_empty == "fallback" and not self.fallback:
            raise ValueError("when_empty is 'fallback' but no fallback members are listed")
        return self


class _FileBase(BaseModel):
    """The YAML file, but for the providers' own blocks (``FileConfig`` adds them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider = Field("opsgenie", description="where schedules live, for every sync that names none")
    workspace: Workspace = Field(None, description="the Slack workspace (T…) holding every group that names none")

    interval: StrictInt = Field(60, ge=1, le=86400, description="daemon period in seconds")
    concurrency: StrictInt = Field(8, ge=1, le=64, description="parallel API reads")
    pass_deadline: StrictInt = Field(60, ge=5, le=3600,
                               description="seconds a pass may take; /healthz fails after interval + 3 deadlines "
                                           "without a completed pass")
    cache_file: str | None = Field(".slackgenie-cache.json", min_length=1,
                                   description="where resolved Slack users are remembered across runs (null: "
                                               "in memory only)")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    state_file: str = Field(".slackgenie-state.json", min_length=1,
                            description="what was announced, so nothing is announced twice across restarts")
    slack_writes_per_minute: StrictInt = Field(20, ge=1, le=1000,
                                               description="user group writes a minute: Slack's Tier 2 is 20; "
                                                           "lower it when other tools share the app's limit")
    handoffs: StrictBool = Field(True, description="wake up at each predicted handoff, not only every interval")
    handoff_guard: Number = Field(2.0, ge=0, le=60, description="seconds after a handoff before syncing")
    heads_up: HeadsUp = Field(None, description="DM each person this long before each shift (e.g. 1h); default off")
    take: Taker = Field("rotation", description="who may take a shift from Slack: rotation (people in one of the "
                                                "schedule's rotations), anyone, or off")
    syncs: list[GroupSync] = Field(min_length=1)
    leader_election: LeaderElection | None = Field(None, description="several replicas, one writer: a Kubernetes "
                                                                     "Lease (off by default)")
    users: dict[str, str] = Field(default_factory=dict,
                                  description="a provider's username, e-mail or user id (Opsgenie username, "
                                              "Atlassian account id, PagerDuty user id) -> Slack e-mail or id")

    @field_validator("users")
    @classmethod
    def _user_map(cls, mapping: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in mapping.items():
            if key.strip() in out:
                raise ValueError(f"{key.strip()!r} is mapped twice (keys differ only in spaces); keep one")
            out[key.strip()] = _check_identity(value)
        return out

    @field_validator("state_file", "cache_file")
    @classmethod
    def _a_file(cls, value: str | None) -> str | None:
        if value is not None and Path(value).is_dir():
            raise ValueError(f"{value!r} is a directory: name a file in it, e.g. {value.rstrip('/')}/state.json")
        return value

    @model_validator(mode="after")
    def _distinct_files(self) -> _FileBase:
        if self.cache_file and Path(self.cache_file).resolve() == Path(self.state_file).resolve():
            raise ValueError("state_file and cache_file name the same file; give each its own file")
        return self

    @model_validator(mode="after")
    def _providers(self) -> _FileBase:
        # Every sync knows its provider from here on: the default is resolved once, here.
        object.__setattr__(self, "syncs", [s.model_copy(update={
            "provider": s.provider or self.provider,
            "workspace": s.workspace or self.workspace,
            "heads_up": s.heads_up if s.heads_up is not None else (self.heads_up or timedelta(0)),
            "take": s.take or self.take}) for s in self.syncs])
        return self

    @property
    def providers(self) -> set[str]:
        """The providers some sync reads: only these need credentials."""
        return {s.provider or self.provider for s in self.syncs if s.schedules or s.escalation}

    @model_validator(mode="after")
    def _unique_groups(self) -> _FileBase:
        seen: set[str] = set()
        for sync in self.syncs:
            if sync.usergroup in seen:
                raise ValueError(f"user group {sync.usergroup!r} is listed twice; merge the two entries")
            seen.add(sync.usergroup)
        return self


class FileConfig(_FileBase):
    """The YAML file: every provider with a block of its own (``jsm:``) has it here, by its name."""

    def block(self, provider: str) -> BaseModel | None:
        """A provider's own block (its defaults where the file has none), or None when it has no block."""
        return getattr(self, provider, None) if PROVIDERS[provider].block is not None else None


def _with_blocks() -> type[FileConfig]:
    blocks: dict[str, Any] = {spec.name: (spec.block, Field(default_factory=spec.block))
                              for spec in PROVIDERS.values() if spec.block is not None}
    return create_model("FileConfig", __base__=FileConfig, __doc__=FileConfig.__doc__, **blocks)


_FILE_MODEL = _with_blocks()


@dataclass(frozen=True)
class Secrets:
    slack_bot_token: SecretStr
    slack_api_url: str
    providers: Mapping[str, ProviderSecrets] = field(default_factory=dict)  # each provider a sync reads
    slack_signing_secret: SecretStr | None = None  # the Slack app over HTTP
    slack_app_token: SecretStr | None = None  # the Slack app over Socket Mode (xapp-…)
    slack_app_bot_token: SecretStr | None = None  # the app's own bot token when SLACK_BOT_TOKEN is a user token

    def require_app(self) -> None:
        """The Slack app needs one way in: HTTP (a signing secret) or Socket Mode (an app token)."""
        if not (self.slack_signing_secret or self.slack_app_token):
            raise ConfigError("environment", "SLACK_SIGNING_SECRET / SLACK_APP_TOKEN", "neither is set",
                              "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode, xapp-…)")

    def values(self) -> list[str]:
        """Every secret value, for redaction wherever text is written."""
        out = [self.slack_bot_token.get_secret_value()]
        out += [s.get_secret_value() for s in (self.slack_signing_secret, self.slack_app_token,
                                               self.slack_app_bot_token) if s]
        for provider in self.providers.values():
            out += provider.values()
        return out


@dataclass(frozen=True)
class Config:
    path: Path
    file: FileConfig
    secrets: Secrets

    @property
    def syncs(self) -> list[GroupSync]:
        return self.file.syncs

    @property
    def workspaces(self) -> list[str | None]:
        """The workspaces the syncs name, each once (None: a sync that names none: the token's own)."""
        return sorted({s.workspace for s in self.syncs}, key=lambda w: w or "")

    def workspace_error(self, org: bool, own: str | None) -> ConfigError | None:
        """What the token's kind makes of ``workspace``: an org-level token (``org``) needs one for
        every sync; a workspace token acts in its own workspace (``own``) only."""
        for i, sync in enumerate(self.syncs):
            if org and not sync.workspace:
                return ConfigError(str(self.path), f"syncs[{i}].workspace",
                                   "is missing: the Slack token is an org-level token (the app is installed on an "
                                   "Enterprise Grid organisation), and Slack must be told which workspace holds "
                                   f"@{sync.usergroup}",
                                   "add `workspace: T…` (the id of the workspace holding the group) to this sync, "
                                   "or once at the top level; `slackgenie check` lists the workspaces the app is "
                                   "deployed to")
            if not org and own and sync.workspace and sync.workspace != own:
                key = "workspace" if sync.workspace == self.file.workspace else f"syncs[{i}].workspace"
                return ConfigError(str(self.path), key,
                                   f"{sync.workspace} is not the Slack token's workspace ({own}): a workspace's "
                                   "token acts in its own workspace only",
                                   f"remove it (or write {own}), or use the token of the app installed on the "
                                   "whole organisation")
        return None

    def source_options(self, provider: str) -> SourceOptions:
        """What the provider's source is built from, besides its credentials."""
        f = self.file
        return SourceOptions(f.retry, f.concurrency, f.pass_deadline, f.users, f.block(provider))


def parse_file(path: Path, text: str) -> FileConfig:
    raw = read_mapping(path, text)
    try:
        file = _FILE_MODEL.model_validate(raw)
    except ValidationError as exc:
        raise explain(path, exc, _FILE_MODEL) from None
    _check_schedules(path, file)
    return file


def _check_schedules(path: Path, file: FileConfig) -> None:
    """Each sync's schedules, for a provider that can tell from its own block (a calendar feed's
    name must be one of ``ical.feeds``): exit 2 naming the sync."""
    for i, sync in enumerate(file.syncs):
        provider = sync.provider or file.provider
        if sync.escalation is not None and provider == "ical":
            raise ConfigError(str(path), f"syncs[{i}].escalation",
                              "a calendar feed has no escalation policies",
                              "name the feed under 'schedules', or read the policy from the provider that holds it "
                              "(provider: opsgenie, jsm or pagerduty)")
        check = PROVIDERS[sync.provider or file.provider].check_schedules
        if check is None or not sync.schedules:
            continue
        try:
            check(file.block(sync.provider or file.provider), sync.schedules)
        except ConfigError as exc:
            raise ConfigError(str(path), f"syncs[{i}].schedules", exc.problem, exc.fix) from None


def load_secrets(env: Mapping[str, str], providers: set[str] | frozenset[str] = frozenset({"opsgenie"}),
                 blocks: Mapping[str, BaseModel | None] | None = None) -> Secrets:
    """Slack's credentials, and those of each provider in ``providers`` (a provider no sync
    uses needs none): each provider package reads its own (``sources.providers``)."""
    loaded = {name: PROVIDERS[name].load(env, (blocks or {}).get(name)) for name in sorted(providers)}
    slack = SlackEnvironment.read(env)
    return Secrets(slack.bot_token, slack.api_url, loaded, slack.signing_secret, slack.app_token, slack.app_bot_token)


def clock_of(env: Mapping[str, str]) -> RealClock:
    """The wall clock, shifted where ``SLACKGENIE_NOW`` says (tests and demos)."""
    try:
        return clock_from_env(env)
    except ValueError as exc:
        raise ConfigError("environment", CLOCK_ENV, str(exc),
                          f"unset {CLOCK_ENV} (it is for tests and demos) or give an ISO-8601 time") from None


def load(cli_path: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = environment() if env is None else env
    path = config_path(cli_path, env)
    if path.exists() and not path.is_file():  # a directory, or a FIFO that would never end
        raise ConfigError(str(path), "(file)", "is not a regular file", "point --config at the YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"is not UTF-8 text (byte {exc.start})",
                          "save the file as UTF-8") from None
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "not found",
                          "create it (see README.md) or pass --config PATH / set SLACKGENIE_CONFIG") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}", "check the path and its permissions") from None
    file = parse_file(path, text)
    return Config(path=path, file=file, secrets=load_secrets(env, file.providers,
                                                                {name: file.block(name) for name in file.providers}))
