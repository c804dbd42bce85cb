"""Commands and exit codes: parse the arguments, call the command, return its exit code.

Exit codes: 0 every group in sync; 1 at least one group could not be fully synced;
2 usage or configuration error, reported before any API call. The commands themselves are in
``ops/`` (sync, run and serve, check, status); the demo ships with the emulators.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.metadata import entry_points

import structlog

from slackgenie import __version__
from slackgenie.core.clock import CLOCK_ENV, Clock
from slackgenie.core.durations import parse_duration
from slackgenie.environment import environment
from slackgenie.settings import Config, ConfigError, clock_of, load
from slackgenie.telemetry.logging import configure_logging, redact_output

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger("slackgenie")


@dataclass(frozen=True)
class Setup:
    """What every command but the demo starts from."""

    config: Config
    clock: Clock
    env: dict[str, str]


def main(argv: Sequence[str] | None = None) -> int:
    redact_output()  # before anything can print: token-shaped text is removed from every output
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args.provider)
    try:
        setup = _setup(args)
        return _command(args, setup)()  # a command checks what only Slack can tell (an org token's
    except ConfigError as exc:            # workspaces) before anything else: still exit 2
        print(f"slackgenie: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _setup(args: argparse.Namespace) -> Setup:
    """The configuration, the clock and logging (every secret hidden from the start)."""
    env = environment()
    config = load(args.config, env)
    clock = clock_of(env)
    hidden = config.secrets.values()
    if args.command == "check":
        from slackgenie.ops.check import migration_secrets

        hidden += migration_secrets(config, env)
    quiet = "warning" if args.command in ("status", "check") and not env.get("LOG_LEVEL") else None
    configure_logging(hidden, level=quiet, env=env)
    if env.get(CLOCK_ENV):
        log.info("clock.shifted", now=clock.now().isoformat(), variable=CLOCK_ENV)
    return Setup(config, clock, env)


def _command(args: argparse.Namespace, s: Setup) -> Callable[[], int]:
    """The command to run, its arguments checked (``ConfigError`` before any API call)."""
    if args.command == "sync":
        from slackgenie.ops.sync import run_sync

        return lambda: run_sync(s.config, s.clock, dry_run=args.dry_run or args.at is not None, at=args.at,
                                metrics_file=args.metrics_file, backlog_wait=args.backlog_wait)
    if args.command == "status":
        from slackgenie.ops.status import run_status

        return lambda: run_status(s.config, s.clock)
    if args.command == "check":
        from slackgenie.ops.check import run_check

        return lambda: run_check(s.config, s.clock, s.env, gaps=args.gaps)
    from slackgenie.ops.web import listen_address

    bind, port = listen_address(args.port, args.bind, s.env)
    if args.command == "serve":
        s.config.secrets.require_app()
    from slackgenie.ops.run import run_daemon

    return lambda: run_daemon(s.config, s.clock, bind=bind, port=port, read_only=args.command == "serve")


def _demo(provider: str) -> int:
    """The demo driver ships with the emulators (never in the product): found by its entry point."""
    found = [ep for ep in entry_points(group="slackgenie.demo") if ep.name == "demo"]
    if not found:
        print("slackgenie: the demo needs the emulators (slackgenie-emulators is not installed): run "
              "`make demo`, or pip install ./emulators from a clone of the repository", file=sys.stderr)
        return EXIT_USAGE
    run_demo: Callable[[str], int] = found[0].load()
    return run_demo(provider)


# --- the arguments ----------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slackgenie",
        description="Keep Slack user groups holding exactly the people on call in Opsgenie.",
        epilog="Exit codes: 0 all groups in sync, 1 some group could not be synced, 2 usage or config error.",
    )
    parser.add_argument("--version", action="version", version=f"slackgenie {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _sync_parser(sub)
    _daemon_parsers(sub)
    check = _with_config(sub.add_parser("check", help="pre-flight checklist: config, tokens, scopes, schedules, "
                                                      "groups, users",
                                        description="Check the configuration, the credentials of Slack and of each "
                                                    "provider in use, the Slack scopes, and that every schedule, user "
                                                    "group and user exists. One line per item."))
    check.add_argument("--gaps", metavar="DURATION", type=_duration,
                       help="also list, for each configured schedule, when nobody is on call in the coming "
                            "DURATION (e.g. 7d, 48h; at most 90d), overrides included")
    _with_config(sub.add_parser("status", help="a table of every group: members now, in sync, who is next and when",
                                description="Show every configured group: its members now, whether it is in sync, "
                                            "who is on call next and when the handoff is. Makes no write."))
    demo = sub.add_parser("demo", help="run against local emulators with a sample organisation",
                          description="Start emulators of Opsgenie, JSM Ops, PagerDuty and Slack with a sample "
                                      "organisation, sync, move the clock across a handoff, sync again, and show "
                                      "the groups and what /oncall answers.")
    demo.add_argument("--provider", choices=["mixed", "opsgenie", "jsm", "pagerduty"], default="mixed",
                      help="where the schedules are read (default: mixed, one group from each provider)")
    return parser



def _with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", metavar="PATH",
                   help="YAML configuration (default: $SLACKGENIE_CONFIG or slackgenie.yaml)")
    return p


def _sync_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sync = _with_config(sub.add_parser("sync", help="one reconciliation pass, then exit (for cron)",
                                       description="Run one reconciliation pass and exit."))
    sync.add_argument("--dry-run", action="store_true", help="print the plan; make no Slack write call")
    sync.add_argument("--metrics-file", metavar="PATH",
                      help="also write this run's metrics for node_exporter's textfile collector (cron, CronJob); "
                           "counters and last-in-sync times carry over from the file's previous contents")
    sync.add_argument("--backlog-wait", metavar="SECONDS", type=_backlog_wait, default=None,
                      help="how long to wait for writes queued by Slack's rate limit (default: as long as the "
                           "backlog needs, at most an hour; 0: leave them to the next run)")
    sync.add_argument("--at", metavar="TIME", type=_timestamp,
                      help="plan for this instant (ISO-8601, e.g. 2026-12-24T18:00:00Z); implies --dry-run")


def _daemon_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = _with_config(sub.add_parser("run", help="the daemon: sync at start, at each handoff and every interval",
                                      description="Sync at start, at each predicted handoff and at least every "
                                                  "`interval` seconds until SIGTERM/SIGINT. Serves /metrics, /healthz "
                                                  "and /readyz, and the Slack app when SLACK_SIGNING_SECRET (HTTP) or "
                                                  "SLACK_APP_TOKEN (Socket Mode) is set."))
    serve = _with_config(sub.add_parser("serve", help="the Slack app alone (/oncall), without changing any group",
                                        description="Answer /oncall, mentions and the App Home from read-only passes; "
                                                    "never writes to user groups. Needs SLACK_SIGNING_SECRET (HTTP) "
                                                    "or SLACK_APP_TOKEN (Socket Mode)."))
    for p in (run, serve):
        p.add_argument("--port", "--metrics-port", dest="port", type=int, metavar="PORT",
                       help="the one port for /slack/events, /metrics, /healthz, /readyz "
                            "(default: $PORT, $METRICS_PORT or 3000; 0: none)")
        p.add_argument("--bind", metavar="ADDRESS", help="address to listen on (default: $BIND_ADDRESS or 0.0.0.0)")


def _backlog_wait(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds from 0 to 3600")
    return seconds


def _duration(value: str) -> timedelta:
    span = parse_duration(value, units="dh", least=timedelta(hours=1), most=timedelta(days=90))
    if span is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration of 1h to 90d (e.g. 7d or 48h)")
    return span


def _timestamp(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 time such as 2026-12-24T18:00:00Z") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    if not _representable(dt) or not 2000 <= dt.astimezone(timezone.utc).year <= 2999:
        raise argparse.ArgumentTypeError(f"{value!r} is out of range: give a time between the years 2000 and 2999")
    return dt


def _representable(dt: datetime) -> bool:
    try:
        dt.astimezone(timezone.utc) + timedelta(days=400)  # the forecast looks a year ahead of it
        dt.astimezone(timezone.utc) - timedelta(days=400)
        return True
    except OverflowError:
        return False


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
