"""Loaded only for test runs under libfaketime (``faketime -f +45d make test``), which the suite
uses to prove that no test depends on the date.

libfaketime 0.9.10 (Debian 12) has two faults that no Python program survives with threads:
with the monotonic clock faked, every timed lock wait (``Event.wait(0.2)``: sem_clockwait on
CLOCK_MONOTONIC, which it does not intercept) sleeps for the whole fake offset; with the
monotonic clock kept real (``FAKETIME_DONT_FAKE_MONOTONIC=1``, which the Makefile and the tests
set), ``time.sleep`` (clock_nanosleep with an absolute CLOCK_MONOTONIC deadline) is shifted by
the fake offset anyway and fails with EINVAL. Keep the monotonic clock real and sleep on a timed
wait instead. Outside libfaketime this file does nothing.
"""

import os

if os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":
    import threading
    import time

    _never = threading.Event()

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        _never.wait(seconds)

    time.sleep = _sleep
