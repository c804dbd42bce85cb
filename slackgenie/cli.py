"""Commands and exit codes; nothing else.

Exit codes: 0 every group in sync; 1 at least one group could not be fully synced;
2 usage or configuration error, reported before any API call.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from importlib.metadata import entry_points

import structlog

from slackgenie import __version__
from slackgenie.core.clock import CLOCK_ENV, Clock, clock_from_env
from slackgenie.core.durations import parse_duration
from slackgenie.settings import Config, ConfigError, environment, load
from slackgenie.engine.daemon import STOP_GRACE
from slackgenie.telemetry.logging import configure_logging, redact_output
from slackgenie.core.model import PassReport
from slackgenie.ops.report import render

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger("slackgenie")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slackgenie",
        description="Keep Slack user groups holding exactly the people on call in Opsgenie.",
        epilog="Exit codes: 0 all groups in sync, 1 some group could not be synced, 2 usage or config error.",
    )
    parser.add_argument("--version", action="version", version=f"slackgenie {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH",
                       help="YAML configuration (default: $SLACKGENIE_CONFIG or slackgenie.yaml)")
        return p

    sync = with_config(sub.add_parser("sync", help="one reconciliation pass, then exit (for cron)",
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
    run = with_config(sub.add_parser("run", help="the daemon: sync at start, at each handoff and every interval",
                                     description="Sync at start, at each predicted handoff and at least every "
                                                 "`interval` seconds until SIGTERM/SIGINT. Serves /metrics, /healthz "
                                                 "and /readyz, and the Slack app when SLACK_SIGNING_SECRET (HTTP) or "
                                                 "SLACK_APP_TOKEN (Socket Mode) is set."))
    serve = with_config(sub.add_parser("serve", help="the Slack app alone (/oncall), without changing any group",
                                       description="Answer /oncall, mentions and the App Home from read-only passes; "
                                                   "never writes to user groups. Needs SLACK_SIGNING_SECRET (HTTP) "
                                                   "or SLACK_APP_TOKEN (Socket Mode)."))
    for p in (run, serve):
        p.add_argument("--port", "--metrics-port", dest="port", type=int, metavar="PORT",
                       help="the one port for /slack/events, /metrics, /healthz, /readyz "
                            "(default: $PORT, $METRICS_PORT or 3000; 0: none)")
        p.add_argument("--bind", metavar="ADDRESS", help="address to listen on (default: $BIND_ADDRESS or 0.0.0.0)")
    check = with_config(sub.add_parser("check", help="pre-flight checklist: config, tokens, scopes, schedules, "
                                                     "groups, users",
                                       description="Check the configuration, the credentials of Slack and of each "
                                                   "provider in use, the Slack scopes, and that every schedule, user "
                                                   "group and user exists. One line per item."))
    check.add_argument("--gaps", metavar="DURATION", type=_duration,
                       help="also list, for each configured schedule, when nobody is on call in the coming "
                            "DURATION (e.g. 7d, 48h; at most 90d), overrides included")
    with_config(sub.add_parser("status", help="a table of every group: members now, in sync, who is next and when",
                               description="Show every configured group: its members now, whether it is in sync, "
                                           "who is on call next and when the handoff is. Makes no write."))
    demo = sub.add_parser("demo", help="run against local emulators with a sample organisation",
                          description="Start emulators of Opsgenie, JSM Ops, PagerDuty and Slack with a sample "
                                      "organisation, sync, move the clock across a handoff, sync again, and show "
                                      "the groups and what /oncall answers.")
    demo.add_argument("--provider", choices=["mixed", "opsgenie", "jsm", "pagerduty"], default="mixed",
                      help="where the schedules are read (default: mixed, one group from each provider)")
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    redact_output()  # before anything can print: token-shaped text is removed from every output
    args = _parser().parse_args(argv)
    if args.command == "demo":
        # The demo driver ships with the emulators (never in the product): found by its entry point.
        found = [ep for ep in entry_points(group="slackgenie.demo") if ep.name == "demo"]
        if not found:
            print("slackgenie: the demo needs the emulators (slackgenie-emulators is not installed): run "
                  "`make demo`, or pip install ./emulators from a clone of the repository", file=sys.stderr)
            return EXIT_USAGE
        run_demo: Callable[[str], int] = found[0].load()
        return run_demo(args.provider)
    env = environment()
    try:
        config = load(args.config, env)
    except ConfigError as exc:
        print(f"slackgenie: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        clock = clock_from_env(env)
    except ValueError as exc:
        print(f"slackgenie: configuration error: environment: {CLOCK_ENV}: {exc}\n"
              f"  fix: unset {CLOCK_ENV} (it is for tests and demos) or give an ISO-8601 time", file=sys.stderr)
        return EXIT_USAGE
    quiet = "warning" if args.command in ("status", "check") and not env.get("LOG_LEVEL") else None
    configure_logging(config.secrets.values(), level=quiet, env=env)
    if env.get(CLOCK_ENV):
        log.info("clock.shifted", now=clock.now().isoformat(), variable=CLOCK_ENV)
    if args.command == "sync":
        return _sync(config, clock, dry_run=args.dry_run or args.at is not None, at=args.at,
                     metrics_file=args.metrics_file, backlog_wait=args.backlog_wait)
    if args.command == "status":
        from slackgenie.ops.status import run_status

        return run_status(config, clock)
    if args.command == "check":
        from slackgenie.ops.check import run_check

        return run_check(config, clock, env, gaps=args.gaps)
    raw_port = args.port if args.port is not None else (env.get("PORT") or env.get("METRICS_PORT") or 3000)
    try:
        port = int(raw_port)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        print(f"slackgenie: configuration error: environment: PORT: {raw_port!r} is not a port number\n"
              "  fix: set PORT (or --port) to a number from 1 to 65535, or 0 to serve nothing", file=sys.stderr)
        return EXIT_USAGE
    bind = args.bind or env.get("BIND_ADDRESS") or "0.0.0.0"
    if args.command == "serve" and not (config.secrets.slack_signing_secret or config.secrets.slack_app_token):
        print("slackgenie: configuration error: environment: SLACK_SIGNING_SECRET / SLACK_APP_TOKEN: neither is set\n"
              "  fix: set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode, xapp-…)", file=sys.stderr)
        return EXIT_USAGE
    return _run(config, clock, bind=bind, port=port, read_only=args.command == "serve")


def _sync(config: Config, clock: Clock, dry_run: bool, at: datetime | None, metrics_file: str | None,
          backlog_wait: float | None = None) -> int:
    from slackgenie.wiring import build

    service = build(config, clock=clock)
    if metrics_file:
        service.metrics.carry_over(metrics_file)
    # The passes run in a worker so that a signal or a deadline ends the command on time,
    # whatever a server is doing; calls still in flight then are abandoned with the process.
    done: list[PassReport] = []
    failure: list[BaseException] = []
    give_up = [time.monotonic() + config.file.pass_deadline + STOP_GRACE]

    def waiting(report: PassReport, wait: float) -> None:
        queued = sum(1 for o in report.outcomes if o.queued)
        print(render(report) + f"\nWaiting {wait:.0f} s for Slack's rate limit to write {queued} queued group(s)...",
              flush=True)
        give_up[0] = time.monotonic() + wait + config.file.pass_deadline + STOP_GRACE

    def work() -> None:
        try:
            if dry_run or at is not None:
                done.append(service.run_pass(dry_run=dry_run, at=at))
            else:
                service.run_through_backlog(backlog_wait, done.append, waiting)
        except BaseException as exc:  # reported below, in the main thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="pass", daemon=True)
    stopped: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopped.append(signum)
        service.stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    worker.start()
    while worker.is_alive() and not stopped and time.monotonic() < give_up[0]:
        worker.join(timeout=0.2)
    if worker.is_alive():
        service.stop.set()
        worker.join(timeout=STOP_GRACE)
    for s, handler in previous.items():
        signal.signal(s, handler)
    if not done:
        if stopped:
            why = f"stopped by {signal.Signals(stopped[0]).name} before the pass finished"
        elif failure:
            why = f"the pass failed: {type(failure[0]).__name__}: {failure[0]}"
        else:
            why = f"the pass did not finish within pass_deadline ({config.file.pass_deadline} s): an API is not answering"
        print(f"slackgenie: {why}; groups not yet written are left as they were", file=sys.stderr, flush=True)
        _exit_now(128 + stopped[0] if stopped else EXIT_PARTIAL)
    report = done[-1]
    abandoned = worker.is_alive()  # a backlog pass that did not finish within its deadline
    if not abandoned:
        service.close()
    print(render(report), flush=True)
    still = sum(1 for o in report.outcomes if o.queued)
    if still:
        print(f"{still} group(s) still queued for Slack's rate limit: the next run writes them first", flush=True)
    if stopped:
        print(f"slackgenie: stopped by {signal.Signals(stopped[0]).name}; groups not yet written are left as they "
              "were", file=sys.stderr, flush=True)
        _exit_now(128 + stopped[0])
    if abandoned:
        print(f"slackgenie: a pass for the backlog did not finish within pass_deadline ({config.file.pass_deadline} s):"
              " an API is not answering; groups not yet written are left as they were", file=sys.stderr, flush=True)
        _exit_now(max(report.exit_code, EXIT_PARTIAL))
    if metrics_file and not dry_run:
        try:
            service.metrics.write_textfile(metrics_file)
        except OSError as exc:
            print(f"slackgenie: cannot write the metrics file {metrics_file}: {exc.strerror}", file=sys.stderr)
            return max(report.exit_code, EXIT_PARTIAL)
    return report.exit_code


def _run(config: Config, clock: Clock, bind: str, port: int, read_only: bool) -> int:
    from slackgenie.engine.daemon import Daemon
    from slackgenie.wiring import build
    from slackgenie.ops.web import Health, WebServer, make_app

    service = build(config, clock=clock)
    health = Health(interval=config.file.interval, pass_deadline=config.file.pass_deadline)
    secrets = config.secrets
    app = None
    if secrets.slack_signing_secret or secrets.slack_app_token:
        from slackgenie.app.runner import AppSupervisor

        app = AppSupervisor(service, secrets.slack_app_token.get_secret_value() if secrets.slack_app_token else None,
                            read_only=read_only)
        health.app_started = lambda: app is not None and app.app is not None

    def on_report(report: PassReport) -> None:
        if app is not None:  # who is on call now, at once: the app answers from it, and is ready
            app.refresh(report, next_too=False)
        health.record(report)
        print(render(report), flush=True)
        if app is not None:  # who is next: one read per handoff instant, concurrently, off the ack path
            app.refresh(report)
        if report.ran and report.at is None:
            service.watch_gaps()

    daemon = Daemon(lambda: service.run_pass(dry_run=read_only), config.file.interval, on_report=on_report,
                    guard=config.file.handoff_guard, clock=clock, pass_deadline=config.file.pass_deadline,
                    next_handoff=service.next_handoff if config.file.handoffs else None, stop=service.stop)
    daemon.install_signal_handlers()
    web = None
    if port:
        mounts = {"/slack/events": app.wsgi} if app is not None and not secrets.slack_app_token else {}
        try:
            web = WebServer(make_app(service.metrics, health, mounts), bind, port).start()
        except OSError as exc:
            print(f"slackgenie: cannot listen on {bind}:{port}: {exc.strerror}", file=sys.stderr)
            service.close()
            return EXIT_USAGE
        log.info("web.listening", address=bind, port=web.port, paths=[*mounts, "/metrics", "/healthz", "/readyz"])
    if app is not None:
        app.start()
    try:
        code = daemon.run()
    finally:
        if app is not None:
            app.stop()
        if web is not None:
            web.stop()
    _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Leave now: worker threads still waiting on a slow API are not joined (Python would wait
    for them at exit, for as long as the API takes). Nothing is lost: a pass that was cut short
    has written nothing since the stop, and the next run completes it."""
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        log.info("exit.abandoning_calls", threads=len(stuck))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
