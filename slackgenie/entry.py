"""The console entry point: `slackgenie …` and `python -m slackgenie …`."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from slackgenie.cli import main

        code = main()
    except KeyboardInterrupt:  # Ctrl-C before the command's own handlers are in place
        print("slackgenie: interrupted", file=sys.stderr)
        code = 130
    raise SystemExit(code)
