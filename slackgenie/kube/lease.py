"""One writer among replicas: a ``coordination.k8s.io/v1`` Lease, held by the replica that writes.

The loop is client-go's (``tools/leaderelection``; ../shared/specs/kubernetes/LEASE.md §4), small
and ours, run on a thread of its own:

- **Held by us**: renewed every ``duration / 3`` by a PUT of the object last written, with its
  ``resourceVersion`` (no GET first). 409 Conflict: someone else changed it; we are no longer the
  holder. A renewal that fails otherwise (no answer, 5xx) is tried again every ``POLL`` seconds.
- **Not held by us**: GET it. 404: create it (POST) with us as holder; 409 AlreadyExists: someone
  else did. When its ``resourceVersion`` differs from the one last seen, note the time *on our own
  monotonic clock*: followers never compare ``renewTime`` with their wall clock. Take it over (PUT
  with the ``resourceVersion`` read, ``leaseTransitions`` + 1) when its holder is empty (released),
  or when it has not changed for the record's own ``leaseDurationSeconds`` since we first saw it so.
  A 409 means another replica won. Polled every ``POLL`` seconds (1 s at most), so a released lease
  is taken within about a second.
- **Released on SIGTERM** (``release``): writes stop first (``may_write`` turns false and the writes
  in flight are waited for), then a PUT with ``holderIdentity`` cleared and ``leaseDurationSeconds``
  1, so the successor takes over at its next poll instead of after ``duration``.

``may_write`` is the gate every Slack write passes just before it is sent (``writing``): true only
until ``sent + duration − margin`` on the monotonic clock, where ``sent`` is when the last
successful write of the Lease was *sent* (the API server stored it later, so every other replica
saw it change later still and waits a whole ``duration`` from then). The margin is ``duration / 3``:
a holder that cannot renew (API server unreachable, partition) stops writing a third of
``duration`` before anyone may take over, and a process that was paused (SIGSTOP, a frozen VM)
finds its gate closed when it resumes, since the monotonic clock ran on meanwhile. What the margin
cannot cover, as in client-go (which says so: there is no fencing): a Slack request sent just
before the gate closed and answered more than ``duration / 3`` later, or a thread paused between
its gate check and its send.

Times written (``acquireTime``, ``renewTime``) are MicroTime: UTC with exactly six fractional
digits; bodies are dicts, read back as dicts, so no datetime goes through the client's
``isoformat()`` (LEASE.md §1, §8.3).

Why not the client's ``kubernetes.leaderelection``: in the client we can install (35–36; 37 needs a
python-dateutil that recurring-ical-events refuses) it has only ``ConfigMapLock`` (its times are
local ``str(datetime)``, not MicroTime, and it rewrites the ConfigMap's annotations), no release on
shutdown (a SIGTERM would cost the successor a whole ``duration``), no gate with a margin (its
``onstarted_leading`` thread keeps running after the lease is lost), a follower's wait measured
against its own ``lease_duration`` rather than the record's, and ``sys.exit()`` on a bad setting
(LEASE.md §8.4). The loop here is about as long as the glue that module would need.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import structlog
from kubernetes.client import CoordinationV1Api  # type: ignore[import-untyped]
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]
from urllib3.exceptions import HTTPError
from slackgenie.kube.status import object_of, said

log = structlog.get_logger("slackgenie.kube.lease")

POLL = 1.0  # seconds between a follower's reads (and a failed renewal's retries), at most
WRITES_DRAIN = 10.0  # seconds a release waits for the Slack writes in flight


def identity(env: dict[str, str] | None = None) -> str:
    """The pod's name (``HOSTNAME``) and a random suffix: a process restarted in the same pod is
    another candidate, not the holder it replaces."""
    env = dict(os.environ) if env is None else env
    return f"{env.get('HOSTNAME') or socket.gethostname()}-{secrets.token_hex(3)}"


def micro_time(at: datetime) -> str:
    """Kubernetes' MicroTime: UTC, exactly six fractional digits (the API server refuses other forms)."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Lease:
    """The election for one Lease; ``may_write`` and ``writing`` are its gate."""

    def __init__(self, api: CoordinationV1Api, namespace: str, name: str, duration: float, me: str, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.api, self.namespace, self.name, self.duration, self.me = api, namespace, name, float(duration), me
        self.renew_every = self.duration / 3
        self.margin = self.duration / 3
        self.poll = min(POLL, self.duration / 5)
        self.request_timeout = max(1.0, self.duration / 5)
        self._monotonic, self._now = monotonic, now
        self._cond = threading.Condition()
        self._record: dict[str, Any] | None = None  # the Lease as last read or written
        self._seen_version: str | None = None
        self._observed = float("-inf")  # monotonic: when the record was last seen to change
        self._mine = False  # the record last written is ours
        self._sent = float("-inf")  # monotonic: when our last successful write of it was sent
        self._renew_failed = False
        self._stopping = False
        self._writes = 0  # Slack writes in flight (``writing``)
        self._leading = False  # as last told to the listeners
        self._problem: str | None = None  # why the API server could not be used, while it cannot
        self.holder: str | None = None  # the holder as last seen ("" or None: nobody)
        self._listeners: list[Callable[[bool], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.calls = 0  # requests sent to the API server (for the tests and the measurements)

    @property
    def where(self) -> str:
        return f"the Lease {self.name} in namespace {self.namespace}"

    # --- the gate -------------------------------------------------------------------------
    def may_write(self) -> bool:
        """True while our lease is valid by the margin (and we are not stopping)."""
        return not self._stopping and self._mine and self._monotonic() < self._sent + self.duration - self.margin

    @contextmanager
    def writing(self) -> Iterator[bool]:
        """Around one write (``slack.delivery.WriteGate``): yields whether it may be made now; a
        release waits for the writes allowed so to end."""
        with self._cond:
            allowed = self.may_write()
            self._writes += allowed
        try:
            yield allowed
        finally:
            if allowed:
                with self._cond:
                    self._writes -= 1
                    self._cond.notify_all()

    def listen(self, listener: Callable[[bool], None]) -> None:
        """``listener(True)`` when we become the writer, ``listener(False)`` when we stop being it."""
        self._listeners.append(listener)

    # --- the loop -------------------------------------------------------------------------
    def start(self) -> Lease:
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        log.info("lease.candidate", lease=self.name, namespace=self.namespace, identity=self.me,
                 duration=self.duration)
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception as exc:  # the loop must outlive any surprise; the gate closes on its own
                log.exception("lease.step_failed", error=f"{type(exc).__name__}: {exc}")
                wait = self.poll
            self._stop.wait(wait)

    def step(self) -> float:
        """One turn: renew, or read and maybe take; the seconds until the next turn."""
        t = self._monotonic()
        if self._mine and t - self._sent < self.duration:  # ours as the API server counts (the gate shuts earlier)
            if t - self._sent >= self.renew_every or self._renew_failed:
                self._put(self._spec(taking=False), t)
            self._tell()
            if self._mine and not self._renew_failed:
                return max(0.05, self._sent + self.renew_every - self._monotonic())
            return self._jittered()
        if self._mine:  # not renewed within its duration: whether it is still ours, a read says
            self._mine = False
            log.warning("lease.not_renewed", lease=self.name, identity=self.me, problem=self._problem,
                        effect="this replica stopped writing; it reads the lease again")
        self._tell()
        self._read_and_maybe_take(t)
        self._tell()
        return max(0.05, self._sent + self.renew_every - self._monotonic()) if self._mine else self._jittered()

    def _jittered(self) -> float:
        return self.poll * random.uniform(0.8, 1.0)

    def _read_and_maybe_take(self, t: float) -> None:
        try:
            obj = self._call("get", self.api.read_namespaced_lease, self.name, self.namespace)
        except _Absent:
            self._create(t)
            return
        except _Failed:
            return
        self._see(obj, t)
        spec = obj.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        lasts = spec.get("leaseDurationSeconds") or self.duration
        if holder and holder != self.me and t < self._observed + float(lasts):
            return  # held, and renewed (as far as we can tell) within its duration
        self._put(self._spec(taking=holder != self.me), t)

    def _create(self, t: float) -> None:
        now = micro_time(self._now())
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"holderIdentity": self.me, "leaseDurationSeconds": int(self.duration),
                         "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}
        try:
            obj = self._call("create", self.api.create_namespaced_lease, self.namespace, body)
        except (_Absent, _Failed):
            return
        self._won(obj, t)

    def _spec(self, taking: bool) -> dict[str, Any]:
        """The record to PUT: ours, renewed now (or taken over now, with one more transition)."""
        record = self._record or {}
        old = record.get("spec") or {}
        now = micro_time(self._now())
        spec: dict[str, Any] = {**{k: v for k, v in old.items() if k not in ("strategy", "preferredHolder")},
                                "holderIdentity": self.me, "leaseDurationSeconds": int(self.duration),
                                "renewTime": now}
        if taking or not old.get("acquireTime"):
            spec["acquireTime"] = now
        if taking:
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + (1 if old.get("holderIdentity") else 0)
        return {**_bare(record), "spec": spec}

    def _put(self, body: dict[str, Any], t: float) -> bool:
        try:
            obj = self._call("update", self.api.replace_namespaced_lease, self.name, self.namespace, body)
        except _Absent:  # deleted since it was read: created on the next turn
            self._lost("it was deleted")
            self._seen_version = None
            return False
        except _Conflict:
            self._lost("another replica changed it first")
            self._seen_version = None  # read again, and counted from then
            return False
        except _Failed:
            self._renew_failed = self._mine
            return False
        self._won(obj, t)
        return True

    def _won(self, obj: dict[str, Any], t: float) -> None:
        was = self._mine
        self._see(obj, t)
        self._mine, self._sent, self._renew_failed = True, t, False
        if not was:
            spec = obj.get("spec") or {}
            log.info("lease.acquired", lease=self.name, identity=self.me, transitions=spec.get("leaseTransitions"))
        self._tell()

    def _lost(self, why: str) -> None:
        if self._mine:
            log.warning("lease.lost", lease=self.name, identity=self.me, reason=why)
        self._mine, self._renew_failed = False, False
        self._tell()

    def _see(self, obj: dict[str, Any], t: float) -> None:
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version != self._seen_version or self._record is None:
            self._seen_version, self._observed = version, t
        self._record = obj
        holder = (obj.get("spec") or {}).get("holderIdentity") or ""
        if holder != (self.holder or ""):
            log.info("lease.leader_changed", lease=self.name, holder=holder or None, previous=self.holder or None,
                     me=holder == self.me)
        self.holder = holder

    def _tell(self) -> None:
        leading = self.may_write()
        if leading == self._leading:
            return
        self._leading = leading
        if not leading and not self._stopping:
            log.info("lease.writes_stopped", lease=self.name, identity=self.me,
                     reason="the lease is no longer ours by the margin")
        for listener in self._listeners:
            try:
                listener(leading)
            except Exception as exc:
                log.warning("lease.listener_failed", error=f"{type(exc).__name__}: {exc}")

    # --- release --------------------------------------------------------------------------
    def release(self, writes_drain: float = WRITES_DRAIN) -> bool:
        """Stop writing, wait (at most ``writes_drain`` s) for the writes in flight, stop the loop and
        give the lease up (holder cleared) so another replica takes it at once; True if it was."""
        with self._cond:
            self._stopping = True
            drained = self._cond.wait_for(lambda: self._writes == 0, timeout=writes_drain)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.request_timeout + 1.0)
        self._tell()
        if not self._mine or self._monotonic() - self._sent >= self.duration:
            return False
        if not drained:  # a write still under way: the lease lapses after its duration instead
            log.warning("lease.not_released", lease=self.name, identity=self.me,
                        why="a Slack write was still under way; the lease lapses after its duration")
            return False
        body = {**_bare(self._record or {}),
                "spec": {**((self._record or {}).get("spec") or {}), "holderIdentity": "",
                         "leaseDurationSeconds": 1, "acquireTime": micro_time(self._now()),
                         "renewTime": micro_time(self._now())}}
        try:
            self._call("update", self.api.replace_namespaced_lease, self.name, self.namespace, body)
        except (_Absent, _Conflict, _Failed):
            return False  # someone else has it already, or it lapses after its duration
        self._mine = False
        log.info("lease.released", lease=self.name, identity=self.me)
        return True

    def stop(self) -> None:
        """Stop the loop without giving the lease up (tests: a replica that dies)."""
        self._stopping = True
        self._stop.set()

    # --- one request ----------------------------------------------------------------------
    def _call(self, verb: str, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
        self.calls += 1
        try:
            body = object_of(method(*args, _request_timeout=self.request_timeout, _preload_content=False))
        except ApiException as exc:
            status = exc.status or 0
            if status == 404:
                raise _Absent() from None
            if status == 409:
                if verb == "create":  # AlreadyExists: another replica created it; read on the next turn
                    raise _Failed() from None
                raise _Conflict() from None
            self._trouble(verb, said(exc, message=True), status)
            raise _Failed() from None
        except (HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self._trouble(verb, f"no answer ({type(reason).__name__})", 0)
            raise _Failed() from None
        except ValueError as exc:
            self._trouble(verb, f"the answer is not a Kubernetes object ({exc})", 0)
            raise _Failed() from None
        if self._problem is not None:
            log.info("lease.api_back", lease=self.name)
            self._problem = None
        return body

    def _trouble(self, verb: str, said: str, status: int) -> None:
        fix = {401: "check the pod's service account token (automountServiceAccountToken) or KUBECONFIG",
               403: f"give the service account get, create and update on leases in namespace {self.namespace} "
                    "(the Role in deploy/kubernetes)"}.get(status, "check that the Kubernetes API server answers "
                                                                  "from this pod")
        problem = f"could not {verb} {self.where}: {said}; {fix}"
        if problem != self._problem:
            log.error("lease.api_failed", lease=self.name, error=problem,
                      effect="this replica does not write until it holds the lease")
        self._problem = problem


class _Absent(Exception):
    pass


class _Conflict(Exception):
    pass


class _Failed(Exception):
    pass


def _bare(record: dict[str, Any]) -> dict[str, Any]:
    """The object to PUT back: as read, without ``managedFields`` (the server keeps its own)."""
    metadata = {k: v for k, v in (record.get("metadata") or {}).items() if k != "managedFields"}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", **{k: v for k, v in record.items()
            if k not in ("metadata", "spec", "apiVersion", "kind")}, "metadata": metadata}
