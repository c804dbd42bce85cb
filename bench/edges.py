"""The edges, measured: what an unsigned 60 MiB POST costs the daemon, how long a stop takes
during a 25 s Slack write, and how long a sync takes against a server that drips its answer.

Runs the real CLI as subprocesses against the emulators on 127.0.0.1; prints numbers.

    .venv/bin/python bench/edges.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START, sample_org

FAST = "retry: {attempts: 4, budget: 6, backoff: 0.05, max_backoff: 0.5, timeout: 3}\npass_deadline: 10\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def spawn(args: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK", "OPSGENIE", "LOG_"))}
    return subprocess.Popen([sys.executable, "-m", "slackgenie", *args], cwd=cwd, env={**clean, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def unsigned_post() -> None:
    with Emulators(sample_org(), at=DEMO_START) as emu, tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "slackgenie.yaml").write_text(emu.org.config_yaml + FAST)
        port = free_port()
        proc = spawn(["run", "--bind", "127.0.0.1", "--port", str(port)],
                     {**emu.env(), "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"}, tmp)
        try:
            wait(lambda: _ok(f"http://127.0.0.1:{port}/readyz"), 30)
            before = peak_kib(proc.pid)
            size, sent, status = 60 * 2**20, 0, ""
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
                chunk = b"x" * 65536
                try:
                    while sent < size:
                        sent += conn.send(chunk)
                except OSError:
                    pass
                try:
                    status = conn.recv(100).decode(errors="replace").split("\r\n")[0]
                except OSError as exc:
                    status = f"closed ({exc})"
            time.sleep(0.5)
            grown = (peak_kib(proc.pid) - before) / 1024
            print(f"unsigned 60 MiB POST: answered {status!r} after {sent / 2**20:.1f} MiB sent; "
                  f"peak RSS grew {grown:.1f} MiB (from {before / 1024:.0f} MiB)")
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def stop_during_slow_write() -> None:
    for command, sig in (("run", signal.SIGTERM), ("sync", signal.SIGTERM), ("sync", signal.SIGINT)):
        with Emulators(sample_org(), at=DEMO_START) as emu, tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "slackgenie.yaml").write_text(emu.org.config_yaml + FAST.replace("timeout: 3", "timeout: 30"))
            emu.slack.inject(r"usergroups\.users\.update", kind="latency", delay=25.0)
            proc = spawn([command] + (["--port", "0"] if command == "run" else []), emu.env(), tmp)
            wait(lambda: any(p.endswith("users.update") for _, p in emu.slack.arrivals), 20)
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(sig)
            code = proc.wait(timeout=60)
            took = time.monotonic() - sent
            after = sum(1 for t, p in emu.slack.arrivals if p.endswith("users.update") and t > time.time() - took)
            print(f"{command} + {sig.name} during a 25 s write: exited {code} after {took:.2f} s; "
                  f"writes sent after the signal: {after}")


def dripping_server() -> None:
    for api, pattern in (("opsgenie", r"on-calls"), ("slack", r"usergroups\.list"),
                         ("slack", r"usergroups\.users\.update")):
        with Emulators(sample_org(), at=DEMO_START) as emu, tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "slackgenie.yaml").write_text(emu.org.config_yaml + FAST)
            (emu.opsgenie if api == "opsgenie" else emu.slack).inject(pattern, kind="drip", delay=2.0)
            began = time.monotonic()
            proc = spawn(["sync"], emu.env(), tmp)
            code = proc.wait(timeout=120)
            print(f"sync against {api} dripping {pattern!r} (3 s timeout, 6 s budget, 10 s pass deadline): "
                  f"exit {code} after {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    unsigned_post()
    stop_during_slow_write()
    dripping_server()
