"""Run the emulators with the sample organisation until SIGTERM/SIGINT (for docker-compose and try-outs).

    python -m slackgenie_emulators --host 127.0.0.1 --opsgenie-port 8081 --slack-port 8082 \
        --jsm-port 8083 --pagerduty-port 8084 --ical-port 8085

The feed server serves one sample feed, ``payments``: a weekly rota (Europe/London, Mondays 09:00)
around now, whose address is printed (it is a secret, as real feeds' addresses are).
"""

from __future__ import annotations

import argparse
import signal
import threading

from slackgenie_emulators import Emulators
from slackgenie_emulators.ical import IcalEmulator, weekly_rotation
from slackgenie_emulators.jsm import JSM_EMAIL, JSM_TOKEN, JsmEmulator
from slackgenie_emulators.opsgenie import OpsgenieEmulator
from slackgenie_emulators.pagerduty import PAGERDUTY_TOKEN, PagerDutyEmulator
from slackgenie_emulators.sample import BOT_TOKEN, OPSGENIE_KEY, sample_org, scaled_org
from slackgenie_emulators.slack import SlackEmulator


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m slackgenie_emulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--opsgenie-port", type=int, default=8081)
    parser.add_argument("--slack-port", type=int, default=8082)
    parser.add_argument("--jsm-port", type=int, default=8083)
    parser.add_argument("--pagerduty-port", type=int, default=8084)
    parser.add_argument("--ical-port", type=int, default=8085)
    parser.add_argument("--groups", type=int, default=0, help="serve a scaled sample with this many groups")
    parser.add_argument("--print-config", action="store_true", help="print the matching slackgenie.yaml and exit")
    args = parser.parse_args()
    org = scaled_org(args.groups) if args.groups else sample_org()
    if args.print_config:
        print(org.config_yaml, end="")
        return 0
    emulators = Emulators(org)  # the real clock
    emulators.opsgenie = OpsgenieEmulator(org.opsgenie, api_keys={OPSGENIE_KEY}, clock=emulators.clock,
                                          host=args.host, port=args.opsgenie_port)
    emulators.slack = SlackEmulator(org.slack, clock=emulators.clock, host=args.host, port=args.slack_port)
    emulators.jsm = JsmEmulator(org.opsgenie, clock=emulators.clock, host=args.host, port=args.jsm_port)
    emulators.pagerduty = PagerDutyEmulator(org.opsgenie, clock=emulators.clock, host=args.host,
                                            port=args.pagerduty_port)
    emulators.ical = IcalEmulator(clock=emulators.clock, host=args.host, port=args.ical_port)
    emulators.ical.set_feed("payments", weekly_rotation(emulators.clock.now()).text)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with emulators:
        print(f"Opsgenie emulator: http://{args.host}:{emulators.opsgenie.port}  (OPSGENIE_API_KEY={OPSGENIE_KEY})")
        print(f"JSM Ops emulator:  http://{args.host}:{emulators.jsm.port}  (JSM_SITE_URL and JSM_API_URL; "
              f"JSM_EMAIL={JSM_EMAIL} JSM_API_TOKEN={JSM_TOKEN})")
        print(f"PagerDuty emulator: http://{args.host}:{emulators.pagerduty.port}  "
              f"(PAGERDUTY_API_TOKEN={PAGERDUTY_TOKEN})")
        print(f"Feed emulator:     http://{args.host}:{emulators.ical.port}  (PAYMENTS_ICS_URL="
              f"{emulators.ical.feed_url('payments')})")
        print(f"Slack emulator:    http://{args.host}:{emulators.slack.port}/api/  (SLACK_BOT_TOKEN={BOT_TOKEN})",
              flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
