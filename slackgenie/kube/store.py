"""The exactly-once facts in a Kubernetes ConfigMap, for replicas that share no disk
(``leader_election`` on): what was announced, heads-ups sent, take buttons used.

The same facts as the state file (``engine/state.py``), in the same JSON, under the ConfigMap's
key ``state.json`` (a state file can be moved in with ``kubectl create configmap <name>
--from-file=state.json=<file>``), kept by the same three rules:

- **Every change is a read-modify-write**: GET the ConfigMap, apply the change to what it holds,
  PUT it back with the ``metadata.resourceVersion`` that was read. The API server refuses a stale
  one (409 Conflict: another replica changed it in between), and the change is read and applied
  again, at most ``CONFLICTS`` times and within ``DEADLINE`` seconds. An absent ConfigMap (404) is
  created (POST); a 409 AlreadyExists (another replica created it first) is read again. A PUT
  always carries the ``resourceVersion``: a ConfigMap takes an update without one, silently
  over another replica's change.
- **A fact that cannot be saved is an error** (``StateNotSaved``, naming the ConfigMap, its
  namespace and the fix): the API server refused (401/403: the RBAC verb it lacks; 422), did not
  answer within the deadline, or other replicas kept changing it. The caller does not carry out
  the side effect the fact guards. A PUT or POST whose answer was lost may or may not have been
  saved: it is not sent again (``StateNotSaved``; the next read says what was).
- **Saved means stored**: the API server answers a write only once etcd holds it.

Facts with an expiry are dropped by the first change after it, as in the file. The data of a
ConfigMap may not exceed 1 MiB: a change that would is refused here, loudly, before the API server
would refuse it.

Reading: ``get`` answers from the last read while it is younger than ``FRESH`` seconds (a pass
asks for several facts per group) and reads again after. That is safe across a hand-over because
the new lease holder writes only after the old lease expired, and the old holder stopped writing
a margin (longer than ``FRESH``) before that. When the API server cannot be read, ``get`` answers
from the last read (and says so in the log); the first change after such an answer, if the
ConfigMap turns out to have changed meanwhile, is refused (``StateNotSaved``), since it may have
been decided on the old copy.

The pass lock (``exclusive``) is only this process's: across replicas the Lease (``kube/lease.py``)
makes one writer, which alone runs writing passes; the store's own changes need no lock, the
``resourceVersion`` orders them. So with ``leader_election`` on, nothing but the lease keeps a
one-shot ``sync`` from writing beside ``run``.

Every request has a timeout (``_request_timeout``), the deadline's remainder at most. urllib3
tries a request again on its own (3 times) unless the client's ``Configuration.retries`` says
otherwise; the timeout is divided so that the deadline holds either way.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import structlog
from kubernetes.client import CoreV1Api  # type: ignore[import-untyped]
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]
from urllib3.exceptions import ConnectTimeoutError, HTTPError

from slackgenie.core.facts import Busy, Changes, Changing, StateNotSaved, applied, decoded, encoded
from slackgenie.kube.status import message_of, object_of, reason_of

log = structlog.get_logger("slackgenie.kube.store")

KEY = "state.json"  # the ConfigMap's data key that holds the facts
MAX_DATA = 1024 * 1024  # bytes of data (keys and values) a ConfigMap may hold
DEADLINE = 5.0  # seconds one change may take, its retries included
REQUEST_TIMEOUT = 5.0  # seconds one request may take (less when the deadline is nearer)
CONFLICTS = 8  # 409s in a row before a change gives up
TRIES = 20  # attempts of one change in all (conflicts, 5xx, 429, no connection)
FRESH = 1.0  # seconds a read answers ``get``
LABELS = {"app.kubernetes.io/name": "slackgenie", "app.kubernetes.io/component": "state"}


class _Again(Exception):
    """Read again and apply again: a conflict, or a refusal or failure that may pass."""

    def __init__(self, why: str, conflict: bool = False):
        super().__init__(why)
        self.why, self.conflict = why, conflict


class _Absent(Exception):
    """404: the ConfigMap does not exist."""


class ConfigMapStore(Changing):
    """``core.facts.FactStore`` in one ConfigMap, shared by every replica."""

    def __init__(self, api: CoreV1Api, namespace: str, name: str, now: Callable[[], datetime] | None = None, *,
                 deadline: float = DEADLINE, request_timeout: float = REQUEST_TIMEOUT, fresh: float = FRESH,
                 conflicts: int = CONFLICTS):
        self.api, self.namespace, self.name = api, namespace, name
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.deadline, self.request_timeout, self.fresh, self.conflicts = deadline, request_timeout, fresh, conflicts
        self._tries_per_request = _tries_per_request(api)
        self._lock = threading.Lock()  # one read or change at a time in this process: memory never goes back
        self._pass = threading.Lock()
        self._facts: dict[str, str] = {}
        self._expires: dict[str, str] = {}
        self._read_at = float("-inf")  # monotonic time of the last read (or save)
        self._served_old = False  # get answered from memory because the ConfigMap could not be read
        self._suspect = False  # ... and the next read found it changed: the next change is refused
        self.problem: str | None = None  # why the ConfigMap could not be read, while it cannot

    @property
    def where(self) -> str:
        return f"the state ConfigMap {self.name} in namespace {self.namespace}"

    # --- reading ------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        """The fact as the ConfigMap holds it (as read at most ``fresh`` seconds ago)."""
        return self._current().get(key)

    def keys(self) -> list[str]:
        return list(self._current())

    def refresh(self) -> None:
        self._current(force=True)

    def _current(self, force: bool = False) -> dict[str, str]:
        if not self._lock.acquire(timeout=self.deadline):
            self._served_old = True
            return self._facts
        try:
            if force or time.monotonic() - self._read_at >= self.fresh:
                try:
                    self._read(time.monotonic() + self.deadline)
                except (_Again, StateNotSaved) as exc:
                    self._unreadable(str(exc))
                    self._served_old = True
            return self._facts
        finally:
            self._lock.release()

    def _read(self, until: float) -> dict[str, Any] | None:
        """GET the ConfigMap into memory (the lock held); the object read, None when absent."""
        try:
            obj: dict[str, Any] | None = self._call("get", until, self.api.read_namespaced_config_map,
                                                    self.name, self.namespace)
        except _Absent:
            obj = None
        data = (obj or {}).get("data") or {}
        try:
            facts, expires = decoded(data[KEY]) if KEY in data else ({}, {})
        except (ValueError, AttributeError, TypeError) as exc:
            self._unreadable(f"its key {KEY} is not Slackgenie's state: {exc}")
            raise StateNotSaved(f"{self.where} cannot be read ({self.problem}): fix or delete its key {KEY}") from None
        if self._served_old:
            self._served_old = False
            self._suspect = self._suspect or (facts, expires) != (self._facts, self._expires)
        self._facts, self._expires, self._read_at, self.problem = facts, expires, time.monotonic(), None
        return obj

    def _unreadable(self, reason: str) -> None:
        if self.problem != reason:
            log.error("state.unreadable", configmap=self.name, namespace=self.namespace, error=reason,
                      effect="facts are answered from the last read; changes fail until it can be read")
        self.problem = reason

    # --- changing -----------------------------------------------------------------------
    def _transaction(self, decide: Callable[[dict[str, str]], Changes | None], keep_until: datetime | None) -> bool:
        until = time.monotonic() + self.deadline
        if not self._lock.acquire(timeout=self.deadline):
            raise self._not_saved(f"another change in this process took over {self.deadline:g} s")
        try:
            return self._retried(decide, keep_until, until)
        except StateNotSaved as exc:
            log.error("state.not_saved", configmap=self.name, namespace=self.namespace, error=str(exc),
                      effect="the side effect it guards is not carried out")
            raise
        finally:
            self._lock.release()

    def _retried(self, decide: Callable[[dict[str, str]], Changes | None], keep_until: datetime | None,
                 until: float) -> bool:
        conflicts, why = 0, ""
        for attempt in range(TRIES):
            try:
                return self._attempt(decide, keep_until, until)
            except _Again as again:
                why = again.why
                conflicts = conflicts + 1 if again.conflict else 0
                if conflicts >= self.conflicts:
                    raise self._not_saved(f"other replicas changed it {conflicts} times in a row while this "
                                          "change was being made") from None
            pause = random.uniform(0.5, 1.0) * min(0.01 * 2 ** attempt, 0.5)  # jittered: the racers part
            if time.monotonic() + pause >= until:
                break
            time.sleep(pause)
        raise self._not_saved(f"{why}; gave up within {self.deadline:g} s: check that the Kubernetes API server "
                              "answers from this pod")

    def _attempt(self, decide: Callable[[dict[str, str]], Changes | None], keep_until: datetime | None,
                 until: float) -> bool:
        obj = self._read(until)
        if self._suspect:
            self._suspect = False
            raise self._not_saved("it could not be read for a while and was changed meanwhile, so this change may "
                                  "rest on an old copy; it is decided again from the new one by the next pass")
        changes = decide(self._facts)
        after = applied(self._facts, self._expires, changes, keep_until, self._now())
        if after is None:
            return False
        text = encoded(*after)
        if obj is None:
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": self.name, "namespace": self.namespace, "labels": LABELS},
                    "data": {KEY: text}}
            self._fits(body)
            self._write("create", until, self.api.create_namespaced_config_map, self.namespace, body)
        else:
            body = {**obj, "data": {**(obj.get("data") or {}), KEY: text},
                    "metadata": {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}}
            self._fits(body)
            self._write("update", until, self.api.replace_namespaced_config_map, self.name, self.namespace, body)
        self._facts, self._expires = after
        self._read_at = time.monotonic()
        return bool(changes)

    def _fits(self, body: dict[str, Any]) -> None:
        """Refuse data over Kubernetes' 1 MiB here, with the reason, not as a 422 from the API server."""
        size = sum(len(k.encode()) + len(v.encode()) for k, v in (body.get("data") or {}).items())
        size += sum(len(k.encode()) + len(v) * 3 // 4 for k, v in (body.get("binaryData") or {}).items())
        if size > MAX_DATA:
            raise self._not_saved(f"its data would be {size} bytes, over the {MAX_DATA} bytes (1 MiB) Kubernetes "
                                  "allows a ConfigMap: facts without an expiry have piled up; delete the ConfigMap's "
                                  f"key {KEY} (announcements may then be made once more)")

    def _write(self, verb: str, until: float, method: Callable[..., Any], *args: Any) -> None:
        try:
            self._call(verb, until, method, *args)
        except _Absent:  # deleted since it was read: read again (and create it)
            raise _Again(f"{self.where} was deleted while it was being changed") from None
        except _Lost as lost:
            self._read_at = float("-inf")  # what it holds now is read again
            raise self._not_saved(f"the answer to its {verb} was lost ({lost}): it may or may not be saved, "
                                  "so what it guards is not done") from None

    # --- one request ----------------------------------------------------------------------
    def _call(self, verb: str, until: float, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
        """One request, within ``until``: the object answered. ``_Absent`` (404), ``_Again``
        (409, 429, 5xx, no connection), ``_Lost`` (a write whose answer was lost), or
        ``StateNotSaved`` (refused for good)."""
        left = until - time.monotonic()
        if left <= 0:
            raise _Again(f"no time was left to {verb} it")
        timeout = max(min(self.request_timeout, left) / self._tries_per_request, 0.001)
        try:
            return object_of(method(*args, _request_timeout=timeout, _preload_content=False))
        except ApiException as exc:
            raise self._refused(verb, exc) from None
        except (HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            why = f"the Kubernetes API server did not answer its {verb} ({type(reason).__name__}: {reason})"
            if verb != "get" and not isinstance(reason, ConnectTimeoutError):
                raise _Lost(why) from None  # sent: it may have been saved
            raise _Again(why) from None
        except ValueError as exc:
            raise self._not_saved(f"the answer to its {verb} is not a Kubernetes object ({exc}): is "
                                  "KUBERNETES_SERVICE_HOST (or KUBECONFIG) the API server?") from None

    def _refused(self, verb: str, exc: ApiException) -> Exception:
        status, reason, message = exc.status or 0, reason_of(exc), message_of(exc)
        said = f"{status} {reason}: {message}" if status else message
        if status == 404:
            return _Absent()
        if status == 409:
            return _Again(f"{said}", conflict=reason != "AlreadyExists")
        if status == 429 or status >= 500:
            return _Again(f"the Kubernetes API server answered its {verb} with {said}")
        if status == 403:
            return self._not_saved(f"Kubernetes refused to {verb} it ({said}): give Slackgenie's service account "
                                   f"the verbs get, create and update on configmaps in namespace {self.namespace} "
                                   "(the Role in deploy/kubernetes)")
        if status == 401:
            return self._not_saved(f"Kubernetes did not accept Slackgenie's credentials to {verb} it ({said}): "
                                   "check the pod's service account token (automountServiceAccountToken) or "
                                   "KUBECONFIG")
        if status == 0:
            return self._not_saved(f"the Kubernetes API server could not be reached to {verb} it ({said}): check "
                                   "the API server's address and certificate")
        return self._not_saved(f"Kubernetes refused to {verb} it ({said})")

    def _not_saved(self, why: str) -> StateNotSaved:
        return StateNotSaved(f"{self.where} could not be saved: {why}")

    # --- the pass lock ------------------------------------------------------------------
    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[None]:
        """This process's passes take turns (``Busy`` after ``timeout`` seconds); across replicas
        the lease holder alone runs writing passes (see the module's docstring)."""
        if not self._pass.acquire(timeout=timeout):
            raise Busy(f"another pass of this process held the pass lock for over {timeout:.0f} s")
        try:
            yield
        finally:
            self._pass.release()


class _Lost(Exception):
    """A write was sent and its answer lost."""


def _tries_per_request(api: Any) -> int:
    """How many times urllib3 may send one request (the client's ``Configuration.retries``;
    None is urllib3's default, 3 retries)."""
    retries = getattr(getattr(getattr(api, "api_client", None), "configuration", None), "retries", None)
    if retries is None:
        return 4
    if retries is False:
        return 1
    if isinstance(retries, int):
        return max(retries, 0) + 1
    total = getattr(retries, "total", None)
    return max(total, 0) + 1 if isinstance(total, int) and not isinstance(total, bool) else 4
