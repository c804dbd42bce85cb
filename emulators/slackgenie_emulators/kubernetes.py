"""A loopback Kubernetes API server: Leases (``coordination.k8s.io/v1``) and ConfigMaps (core ``v1``),
bearer tokens with RBAC rules, SelfSubjectAccessReviews, and outages on demand.

What it answers follows ../shared/specs/kubernetes/LEASE.md (§1-3, §6, §7), which cites the apiserver:

- get, list, create (POST), replace (PUT), merge patch (PATCH) and delete of both kinds, each object
  with a ``uid``, a ``creationTimestamp``, ``managedFields`` and a ``resourceVersion``: an opaque
  string from one counter for the whole server, bumped on every write. A PUT that changes nothing
  writes nothing and keeps the resourceVersion, as etcd's guaranteed update does.
- PUT: a stale ``metadata.resourceVersion`` answers 409 Conflict; none at all answers 422 Invalid
  for a Lease (``AllowUnconditionalUpdate`` false) and overwrites a ConfigMap (true); a missing Lease
  is created (201, ``AllowCreateOnUpdate`` true), a missing ConfigMap answers 404. A ``metadata.uid``
  in the body is a precondition (409 when it names another object).
- POST: 409 AlreadyExists when the name is taken; a ``resourceVersion`` in the body answers 500, as
  the storage layer does.
- A Lease's ``acquireTime`` and ``renewTime`` are MicroTime: exactly six fractional digits and ``Z``
  or an offset, else 400 BadRequest; stored and answered as UTC with six digits (the same instant).
  Validation (422): the name a DNS subdomain, ``leaseDurationSeconds`` > 0, ``leaseTransitions`` >= 0;
  a ConfigMap's keys, its size (1 MiB of data and binaryData) and ``immutable``.
- Every error is a ``Status`` object (LEASE.md §2.1): 401 Unauthorized for a missing or unknown
  token, 403 Forbidden worded as the apiserver words it when no rule of the token allows the verb.
- ``down("refuse" | "drop" | "hang")`` and ``up()``: connections refused, requests read and the
  connection closed unanswered, or requests held unanswered (past any client's timeout).
- ``log()``: every request with the token that made it, the verb and the object, and the status
  answered (0: none).
- ``before(step, verb=..., resource=...)``: another client's change slipped in just before a request
  is served (between a client's read and its write, whose resourceVersion is then stale).

Not served: watch, server-side apply and JSON patch (415), ``generateName``, field selectors.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from slackgenie_emulators.base import Clock, EmulatorServer, Fault, Request, Response, iso

KUBE_TOKEN = "emulated-service-account-token"  # the Emulators' default token: every verb allowed
DEFAULT_USER = "system:serviceaccount:slackgenie:slackgenie"
MICROTIME_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"  # Go's RFC3339Micro, as the apiserver parses it
CONFIGMAP_MAX_BYTES = 1024 * 1024
HANG_SECONDS = 300.0  # the longest a request is held in ``down("hang")`` (released at once by up() or stop())
VERBS = ("get", "list", "create", "update", "patch", "delete")

_MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(?:Z|[+-]\d\d:\d\d)")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_DNS_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_KEY_MESSAGE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
_SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/v1)/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)"
                   r"(?:/(?P<name>[^/]+))?/?$")


@dataclass(frozen=True)
class _Kind:
    resource: str  # "leases"
    kind: str  # "Lease"
    group: str  # "coordination.k8s.io", "" for the core group
    api_version: str  # "coordination.k8s.io/v1"
    body_fields: tuple[str, ...]  # the top-level fields kept besides metadata
    create_on_update: bool  # a PUT of a missing object creates it
    unconditional_update: bool  # a PUT without resourceVersion overwrites

    @property
    def qualified(self) -> str:  # "leases.coordination.k8s.io", "configmaps"
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def group_kind(self) -> str:  # "Lease.coordination.k8s.io", "ConfigMap"
        return f"{self.kind}.{self.group}" if self.group else self.kind


LEASES = _Kind("leases", "Lease", "coordination.k8s.io", "coordination.k8s.io/v1", ("spec",), True, False)
CONFIGMAPS = _Kind("configmaps", "ConfigMap", "", "v1", ("data", "binaryData", "immutable"), False, True)
KINDS = {k.resource: k for k in (LEASES, CONFIGMAPS)}
_GROUPS = {"leases": "coordination.k8s.io", "configmaps": "", "selfsubjectaccessreviews": "authorization.k8s.io"}


@dataclass(frozen=True)
class Rule:
    """One RBAC rule (a Role's ``rules[]`` entry): ``verbs`` on ``resources`` in ``namespaces``, and with
    ``names`` only on those objects (``resourceNames``: never matches create or list, which name no
    object when they are authorized, LEASE.md §6). ``"*"`` matches anything. Strings or iterables."""

    verbs: tuple[str, ...] | str = ("*",)
    resources: tuple[str, ...] | str = ("*",)
    namespaces: tuple[str, ...] | str = ("*",)
    names: tuple[str, ...] | str = ()

    def __post_init__(self) -> None:
        for name in ("verbs", "resources", "namespaces", "names"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))

    def allows(self, verb: str, resource: str, namespace: str, name: str) -> bool:
        if not (_any(self.verbs, verb) and _any(self.resources, resource) and _any(self.namespaces, namespace)):
            return False
        return not self.names or (bool(name) and name in _strings(self.names))


ALL = (Rule(),)  # every verb on every resource in every namespace (a cluster-admin)


def slackgenie_role(namespace: str = "slackgenie", lease: str = "slackgenie",
                    state: str = "slackgenie-state") -> tuple[Rule, ...]:
    """Exactly what deploy/kubernetes grants (LEASE.md §6): create each kind, get and update the two objects."""
    return (Rule("create", "leases", namespace), Rule(("get", "update"), "leases", namespace, lease),
            Rule("create", "configmaps", namespace), Rule(("get", "update"), "configmaps", namespace, state))


@dataclass(frozen=True)
class KubeRequest:
    """One request as the server saw it: who (``token``, None when absent; ``user``, None when the token
    is unknown), what (``verb`` as RBAC names it, ``resource``, ``namespace``, ``name``) and the
    ``status`` answered (0: none, the connection was closed or held)."""

    method: str
    path: str
    token: str | None
    user: str | None
    verb: str
    resource: str
    namespace: str
    name: str
    status: int
    at: float  # time.time() when it was answered (or dropped)
    monotonic: float  # time.monotonic(), the same moment


@dataclass
class _Before:
    step: Callable[[], object]
    verb: str | None
    resource: str | None
    name: str | None
    left: int | None  # requests it still runs before (None: every one)


@dataclass
class _Account:
    user: str
    rules: list[Rule] = field(default_factory=list)


class KubeError(Exception):
    def __init__(self, code: int, body: dict[str, Any]):
        super().__init__(body.get("message", ""))
        self.code, self.body = code, body


class KubernetesEmulator(EmulatorServer):
    """The API server. Register tokens with ``add_token``; objects live in memory, per namespace."""

    name = "kubernetes"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None,
                 tokens: dict[str, Iterable[Rule]] | None = None):
        super().__init__(host=host, port=port, clock=clock)
        self._host = host
        self._accounts: dict[str, _Account] = {}
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (resource, namespace, name) -> object
        self._version = 1000
        self._kube_log: list[KubeRequest] = []
        self._outage: str | None = None
        self._befores: list[_Before] = []
        self._stepping = 0  # steps of ``before`` running now: the requests they send run none
        self._back = threading.Event()
        self._back.set()
        self._httpd.RequestHandlerClass = _gated(self._httpd.RequestHandlerClass, self)
        for token, rules in (tokens or {}).items():
            self.add_token(token, rules=rules)

    # --- identities and RBAC ------------------------------------------------------------------
    def add_token(self, token: str, *, user: str = DEFAULT_USER, rules: Iterable[Rule] = ALL) -> None:
        """Accept ``token`` as ``user``, allowed what ``rules`` allow (``ALL`` by default; ``()``: nothing)."""
        with self._lock:
            self._accounts[token] = _Account(user, list(rules))

    def set_rules(self, token: str, rules: Iterable[Rule]) -> None:
        with self._lock:
            self._accounts[token].rules = list(rules)

    def grant(self, token: str, rule: Rule) -> None:
        with self._lock:
            self._accounts[token].rules.append(rule)

    def remove_token(self, token: str) -> None:
        """From now on ``token`` answers 401 (a revoked or rotated token)."""
        with self._lock:
            self._accounts.pop(token, None)

    def allowed(self, token: str, verb: str, resource: str, namespace: str, name: str = "") -> bool:
        with self._lock:
            account = self._accounts.get(token)
            return account is not None and any(r.allows(verb, resource, namespace, name) for r in account.rules)

    # --- outages --------------------------------------------------------------------------------
    def down(self, how: str = "drop") -> None:
        """Make the server unreachable until ``up()``: ``refuse`` (new connections refused, open ones
        closed at their next request), ``drop`` (each request read, then the connection closed
        unanswered) or ``hang`` (each request read and held unanswered until ``up()``, ``stop()`` or
        HANG_SECONDS, then the connection closed). Nothing a request asked is carried out."""
        if how not in ("refuse", "drop", "hang"):
            raise ValueError(f"down(how) is refuse, drop or hang, not {how!r}")
        with self._lock:
            if self._outage == "refuse":
                raise RuntimeError("the server is already refusing: call up() first")
            self._outage = how
            self._back.clear()
        if how == "refuse":
            if self._thread is not None and self._thread.is_alive():  # shutdown() waits for a serving loop
                self._httpd.shutdown()
            self._httpd.server_close()

    def up(self) -> None:
        """Reachable again, on the same port; held requests are closed unanswered."""
        with self._lock:
            refused, self._outage = self._outage == "refuse", None
            self._back.set()
        if refused:
            self._listen_again()

    @property
    def outage(self) -> str | None:
        return self._outage

    def _listen_again(self) -> None:
        handler = self._httpd.RequestHandlerClass
        deadline = time.monotonic() + 10
        while True:
            try:
                httpd = ThreadingHTTPServer((self._host, self.port), handler)
                break
            except OSError:  # the port is still in TIME_WAIT or was taken meanwhile: bounded retries
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self.start()

    def start(self) -> KubernetesEmulator:
        super().start()
        return self

    def __enter__(self) -> KubernetesEmulator:
        return self.start()

    def stop(self) -> None:
        with self._lock:
            refused, self._outage = self._outage == "refuse", None
            self._back.set()
        if not refused:
            super().stop()

    # --- interleaving -----------------------------------------------------------------------------
    def before(self, step: Callable[[], object], *, verb: str | None = None, resource: str | None = None,
               name: str | None = None, times: int | None = 1) -> None:
        """Run ``step()`` just before serving each of the next ``times`` requests (None: every one until
        ``clear_faults()``) with that RBAC ``verb`` (get, create, update, ...), ``resource`` and ``name``
        (None: any): another client's change landing between a client's read and its write, which then
        carries a stale resourceVersion. ``step`` runs on the serving thread, outside the server's lock,
        before authorization; it may change objects with ``put`` or send requests to this server (those
        run no step, nor does any request served while a step runs)."""
        with self._lock:
            self._befores.append(_Before(step, verb, resource, name, times))

    def clear_faults(self) -> None:
        super().clear_faults()
        with self._lock:
            self._befores.clear()

    def _step_before(self, request: Request) -> None:
        verb, resource, _, name = _attributes(request.method, request.path)
        with self._lock:
            if self._stepping:
                return
            due = next((b for b in self._befores if b.left != 0 and b.verb in (None, verb)
                        and b.resource in (None, resource) and b.name in (None, name)), None)
            if due is None:
                return
            if due.left is not None:
                due.left -= 1
            self._stepping += 1
        try:
            due.step()
        finally:
            with self._lock:
                self._stepping -= 1

    # --- objects and the log ----------------------------------------------------------------------
    def get(self, resource: str, name: str, namespace: str = "slackgenie") -> dict[str, Any] | None:
        """The stored object as the API would answer it (a copy), None if absent."""
        with self._lock:
            obj = self._objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` directly (``kind`` Lease or ConfigMap, ``metadata.name``, ``metadata.namespace``
        default ``slackgenie``), as if another client had written it: a new resourceVersion, no checks."""
        kind = next(k for k in KINDS.values() if k.kind == obj.get("kind"))
        metadata = obj.get("metadata") or {}
        namespace, name = metadata.get("namespace") or "slackgenie", metadata["name"]
        body = _decode_value(kind, obj)
        with self._lock:
            stored = self._objects.get((kind.resource, namespace, name))
            return copy.deepcopy(self._store(kind, namespace, name, body, stored, "emulator"))

    def delete(self, resource: str, name: str, namespace: str = "slackgenie") -> bool:
        with self._lock:
            gone = self._objects.pop((resource, namespace, name), None) is not None
            if gone:
                self._version += 1
            return gone

    @property
    def resource_version(self) -> str:
        """The server's current resourceVersion (the last write's)."""
        with self._lock:
            return str(self._version)

    def log(self, token: str | None = None, *, verb: str | None = None, resource: str | None = None,
            since: float | None = None) -> list[KubeRequest]:
        """Every request (answered or not), oldest first; only ``token``'s, ``verb``, ``resource``, or
        those answered (or dropped) at ``time.monotonic()`` >= ``since`` when given."""
        with self._lock:
            entries = list(self._kube_log)
        return [e for e in entries if (token is None or e.token == token) and (verb is None or e.verb == verb)
                and (resource is None or e.resource == resource) and (since is None or e.monotonic >= since)]

    def reset_log(self) -> None:
        super().reset_log()
        with self._lock:
            self._kube_log.clear()

    def _record(self, request: Request, status: int) -> None:
        super()._record(request, status)
        self._note(request.method, request.path, request.headers, status)

    def _note(self, method: str, path: str, headers: dict[str, str], status: int) -> None:
        token = _bearer(headers)
        verb, resource, namespace, name = _attributes(method, path)
        with self._lock:
            account = self._accounts.get(token) if token is not None else None
            self._kube_log.append(KubeRequest(method, path, token, account.user if account else None, verb,
                                              resource, namespace, name, status, time.time(), time.monotonic()))

    # --- serving ------------------------------------------------------------------------------------
    def fault_response(self, fault: Fault, request: Request) -> Response:
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
        message = {429: "Too many requests, please try again later.",
                   504: "The server was unable to return a response in the time allotted, but may still be "
                        "processing the request"}.get(fault.status, "the server is currently unable to handle the "
                                                                        "request")
        return Response(fault.status, _status(fault.status, reasons.get(fault.status, ""), message, details={}),
                        headers=headers)

    def handle(self, request: Request) -> Response:
        self._step_before(request)
        try:
            return self._handle(request)
        except KubeError as error:
            return Response(error.code, error.body)

    def _handle(self, request: Request) -> Response:
        token = _bearer(request.headers)
        with self._lock:
            account = self._accounts.get(token) if token is not None else None
        if account is None:
            raise KubeError(401, _status(401, "Unauthorized", "Unauthorized"))
        if request.path == _SSAR:
            if request.method != "POST":
                raise _method_not_allowed()
            return self._access_review(token or "", request)
        match = _PATH.match(request.path)
        kind = KINDS.get(match["res"]) if match else None
        if match is None or kind is None or (match["group"] or "") != kind.group:
            raise KubeError(404, _status(404, "NotFound", "the server could not find the requested resource",
                                         details={}))
        namespace, name = match["ns"], match["name"] or ""
        verb = _verb(request.method, bool(name))
        if verb is None:
            raise _method_not_allowed()
        if not self.allowed(token or "", verb, kind.resource, namespace, name):
            raise KubeError(403, _forbidden(account.user, verb, kind, namespace, name))
        if verb == "get":
            return Response(200, self._read(kind, namespace, name))
        if verb == "list":
            return Response(200, self._list(kind, namespace))
        if verb == "delete":
            return Response(200, self._delete(kind, namespace, name))
        manager = _manager(request.headers)
        if verb == "patch":
            return self._patch(kind, namespace, name, request, manager)
        body = _decode(kind, request)
        if verb == "create":
            return Response(201, self._create(kind, namespace, body, manager))
        return self._replace(kind, namespace, name, body, manager)

    def _read(self, kind: _Kind, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._objects.get((kind.resource, namespace, name))
            if obj is None:
                raise KubeError(404, _not_found(kind, name))
            return copy.deepcopy(obj)

    def _list(self, kind: _Kind, namespace: str) -> dict[str, Any]:
        with self._lock:
            items = [{k: v for k, v in copy.deepcopy(o).items() if k not in ("kind", "apiVersion")}
                     for (resource, ns, _), o in sorted(self._objects.items()) if resource == kind.resource
                     and ns == namespace]
            return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(self._version)}, "items": items}

    def _delete(self, kind: _Kind, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._objects.pop((kind.resource, namespace, name), None)
            if obj is None:
                raise KubeError(404, _not_found(kind, name))
            self._version += 1
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {**_details(kind, name), "uid": obj["metadata"]["uid"]}}

    def _create(self, kind: _Kind, namespace: str, body: dict[str, Any], manager: str) -> dict[str, Any]:
        metadata = body.get("metadata") or {}
        name = metadata.get("name") or ""
        _check_namespace(metadata, namespace)
        _validate(kind, name, body, None)
        if metadata.get("resourceVersion"):  # etcd's storage refuses it: a 500 with no reason
            raise KubeError(500, _status(500, "", "resourceVersion should not be set on objects to be created"))
        with self._lock:
            if (kind.resource, namespace, name) in self._objects:
                raise KubeError(409, _status(409, "AlreadyExists", f'{kind.qualified} "{name}" already exists',
                                             details=_details(kind, name)))
            return copy.deepcopy(self._store(kind, namespace, name, body, None, manager))

    def _replace(self, kind: _Kind, namespace: str, name: str, body: dict[str, Any], manager: str) -> Response:
        metadata = body.get("metadata") or {}
        if (metadata.get("name") or "") != name:
            raise KubeError(400, _status(400, "BadRequest", f"the name of the object ({metadata.get('name') or ''}) "
                                                            f"does not match the name on the URL ({name})"))
        _check_namespace(metadata, namespace)
        version = metadata.get("resourceVersion") or ""
        with self._lock:
            stored = self._objects.get((kind.resource, namespace, name))
            uid = metadata.get("uid") or ""
            if uid and uid != (stored or {}).get("metadata", {}).get("uid", ""):
                theirs = (stored or {}).get("metadata", {}).get("uid", "")
                raise KubeError(409, _conflict(kind, name, f"Precondition failed: UID in precondition: {uid}, UID in "
                                                           f"object meta: {theirs}"))
            if stored is None:
                if not kind.create_on_update:
                    raise KubeError(404, _not_found(kind, name))
                _validate(kind, name, body, None)
                return Response(201, copy.deepcopy(self._store(kind, namespace, name, body, None, manager)))
            if not version and not kind.unconditional_update:
                raise KubeError(422, _invalid(kind, name, "metadata.resourceVersion", "FieldValueInvalid",
                                              "Invalid value: 0x0: must be specified for an update"))
            if version and version != stored["metadata"]["resourceVersion"]:
                raise KubeError(409, _conflict(kind, name, "the object has been modified; please apply your changes "
                                                           "to the latest version and try again"))
            _validate(kind, name, body, stored)
            return Response(200, copy.deepcopy(self._store(kind, namespace, name, body, stored, manager)))

    def _patch(self, kind: _Kind, namespace: str, name: str, request: Request, manager: str) -> Response:
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            raise KubeError(415, _status(415, "UnsupportedMediaType",
                                         f"the emulator does not serve {ctype or 'this'} patches: only "
                                         "application/merge-patch+json and application/strategic-merge-patch+json",
                                         details={}))
        try:
            patch = json.loads(request.raw_body or b"null")
        except ValueError as exc:
            raise KubeError(400, _status(400, "BadRequest", f"error decoding patch: {exc}")) from None
        if not isinstance(patch, dict):
            raise KubeError(400, _status(400, "BadRequest", "the patch is not a JSON object"))
        with self._lock:
            stored = self._objects.get((kind.resource, namespace, name))
            if stored is None:
                raise KubeError(404, _not_found(kind, name))
            version = (patch.get("metadata") or {}).get("resourceVersion")
            if version and version != stored["metadata"]["resourceVersion"]:
                raise KubeError(409, _conflict(kind, name, "the object has been modified; please apply your changes "
                                                           "to the latest version and try again"))
            merged = _merge(copy.deepcopy(stored), patch)
            body = _decode_value(kind, merged)
            body["metadata"]["name"] = name
            _validate(kind, name, body, stored)
            return Response(200, copy.deepcopy(self._store(kind, namespace, name, body, stored, manager)))

    def _store(self, kind: _Kind, namespace: str, name: str, body: dict[str, Any], stored: dict[str, Any] | None,
               manager: str) -> dict[str, Any]:
        """Keep what a client may set, add what the server sets; a write only when something changed."""
        metadata = body.get("metadata") or {}
        kept = {key: body[key] for key in kind.body_fields if body.get(key) is not None}
        if kind is LEASES:
            spec = {k: v for k, v in (kept.get("spec") or {}).items()
                    if k in ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")
                    and v is not None}
            for key in ("acquireTime", "renewTime"):
                if key in spec:
                    spec[key] = _micro(spec[key])
            kept["spec"] = spec
        user_meta = {key: metadata[key] for key in ("labels", "annotations") if metadata.get(key)}
        if stored is not None and kept == {k: stored[k] for k in kind.body_fields if k in stored} and user_meta == {
                k: stored["metadata"][k] for k in ("labels", "annotations") if k in stored["metadata"]}:
            return stored  # nothing changed: nothing written, the resourceVersion stays
        self._version += 1
        now = iso(self.clock.now())
        obj = {"kind": kind.kind, "apiVersion": kind.api_version,
               "metadata": {"name": name, "namespace": namespace,
                            "uid": stored["metadata"]["uid"] if stored else str(uuid.uuid4()),
                            "resourceVersion": str(self._version),
                            "creationTimestamp": stored["metadata"]["creationTimestamp"] if stored else now,
                            **user_meta,
                            "managedFields": [{"manager": manager, "operation": "Update", "apiVersion": kind.api_version,
                                               "time": now, "fieldsType": "FieldsV1",
                                               "fieldsV1": _fields({**kept, "metadata": user_meta})}]},
               **kept}
        self._objects[(kind.resource, namespace, name)] = obj
        return obj

    def _access_review(self, token: str, request: Request) -> Response:
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            raise KubeError(400, _status(400, "BadRequest", "the body of a SelfSubjectAccessReview is a JSON object"))
        attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
        allowed = self.allowed(token, str(attributes.get("verb") or ""), str(attributes.get("resource") or ""),
                               str(attributes.get("namespace") or ""), str(attributes.get("name") or ""))
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = "allowed by the emulator's rules for this token"
        return Response(201, {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                              "metadata": {"creationTimestamp": None}, "spec": body.get("spec") or {},
                              "status": status})


# --- outages: a request handler in front of the base one ------------------------------------------

def _gated(handler: Any, emulator: KubernetesEmulator) -> type:
    serve = handler.do_GET

    class Gated(handler):
        def _gate(self) -> None:
            how = emulator.outage
            if how is None:
                serve(self)
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            emulator._note(self.command, self.path.split("?")[0], {k.lower(): v for k, v in self.headers.items()}, 0)
            if how == "hang":
                emulator._back.wait(HANG_SECONDS)
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _gate

    return Gated


# --- Status objects (LEASE.md §2.1; apimachinery's errors.go) ---------------------------------------

def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message}
    if reason:  # StatusReasonUnknown is "", omitted
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _details(kind: _Kind, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.resource
    return details


def _not_found(kind: _Kind, name: str) -> dict[str, Any]:
    return _status(404, "NotFound", f'{kind.qualified} "{name}" not found', details=_details(kind, name))


def _conflict(kind: _Kind, name: str, why: str) -> dict[str, Any]:
    return _status(409, "Conflict", f'Operation cannot be fulfilled on {kind.qualified} "{name}": {why}',
                   details=_details(kind, name))


def _invalid(kind: _Kind, name: str, path: str, reason: str, message: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.kind
    details["causes"] = [{"reason": reason, "message": message, "field": path}]
    return _status(422, "Invalid", f'{kind.group_kind} "{name}" is invalid: {path}: {message}', details=details)


def _forbidden(user: str, verb: str, kind: _Kind, namespace: str, name: str) -> dict[str, Any]:
    """NewForbidden around the RBAC authorizer's forbiddenMessage (apiserver responsewriters/errors.go)."""
    why = (f'User "{user}" cannot {verb} resource "{kind.resource}" in API group "{kind.group}" in the namespace '
           f'"{namespace}"')
    subject = f'{kind.qualified} "{name}"' if name else kind.qualified
    return _status(403, "Forbidden", f"{subject} is forbidden: {why}", details=_details(kind, name))


def _method_not_allowed() -> KubeError:
    return KubeError(405, _status(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                                            "resource", details={}))


# --- decoding and validation -----------------------------------------------------------------------

def _decode(kind: _Kind, request: Request) -> dict[str, Any]:
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise KubeError(415, _status(415, "UnsupportedMediaType",
                                     f"the body of the request was in an unknown format - accepted media types "
                                     f"include: application/json (the emulator's; not {ctype or 'none'})", details={}))
    try:
        value = json.loads(request.raw_body)
    except ValueError as exc:
        raise KubeError(400, _status(400, "BadRequest", f"couldn't get version/kind; json parse error: {exc}")) from None
    return _decode_value(kind, value)


def _decode_value(kind: _Kind, value: Any) -> dict[str, Any]:
    """The body as the apiserver would decode it: 400 BadRequest when it cannot be a ``kind``."""
    def bad(why: str) -> KubeError:
        return KubeError(400, _status(400, "BadRequest",
                                      f'{kind.kind} in version "v1" cannot be handled as a {kind.kind}: {why}'))

    if not isinstance(value, dict):
        raise bad(f"json: cannot unmarshal {_json_type(value)} into Go value of type struct")
    if value.get("apiVersion") not in (None, kind.api_version):
        raise KubeError(400, _status(400, "BadRequest", f"the API version in the data ({value['apiVersion']}) does "
                                                        f"not match the expected API version ({kind.api_version})"))
    if value.get("kind") not in (None, kind.kind):
        raise bad(f'no kind "{value["kind"]}" is registered for version "{kind.api_version}"')
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise bad(f"json: cannot unmarshal {_json_type(metadata)} into Go struct field {kind.kind}.metadata of type "
                  "v1.ObjectMeta")
    for key in ("name", "namespace", "resourceVersion", "uid"):
        item = (metadata or {}).get(key)
        if item is not None and not isinstance(item, str):
            raise bad(f"json: cannot unmarshal {_json_type(item)} into Go struct field ObjectMeta.metadata."
                      f"{key} of type string")
    for key in ("labels", "annotations"):
        if not _string_map((metadata or {}).get(key)):
            raise bad(f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of type map[string]string")
    if kind is LEASES:
        spec = value.get("spec")
        if spec is not None and not isinstance(spec, dict):
            raise bad(f"json: cannot unmarshal {_json_type(spec)} into Go struct field Lease.spec of type "
                      "v1.LeaseSpec")
        for key, go_type in (("holderIdentity", "string"), ("leaseDurationSeconds", "int32"),
                             ("leaseTransitions", "int32"), ("acquireTime", "MicroTime"), ("renewTime", "MicroTime")):
            item = (spec or {}).get(key)
            if item is None:
                continue
            if go_type == "int32" and (isinstance(item, bool) or not isinstance(item, int)
                                       or not -2**31 <= item < 2**31):
                raise bad(f"json: cannot unmarshal {_json_type(item)} into Go struct field LeaseSpec.spec.{key} of "
                          "type int32")
            if go_type != "int32" and not isinstance(item, str):
                raise bad(f"json: cannot unmarshal {_json_type(item)} into Go struct field LeaseSpec.spec.{key} of "
                          "type string")
            if go_type == "MicroTime":
                why = _microtime_error(item)
                if why:
                    raise bad(why)
    else:
        if not _string_map(value.get("data")):
            raise bad("json: cannot unmarshal into Go struct field ConfigMap.data of type map[string]string")
        if not _string_map(value.get("binaryData")):
            raise bad("json: cannot unmarshal into Go struct field ConfigMap.binaryData of type map[string][]uint8")
        for key, item in (value.get("binaryData") or {}).items():
            try:
                base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise bad(f"illegal base64 data in binaryData[{key}]") from None
        if value.get("immutable") is not None and not isinstance(value["immutable"], bool):
            raise bad(f"json: cannot unmarshal {_json_type(value['immutable'])} into Go struct field "
                      "ConfigMap.immutable of type bool")
    return {**value, "metadata": dict(metadata or {})}


def _validate(kind: _Kind, name: str, body: dict[str, Any], stored: dict[str, Any] | None) -> None:
    """422 Invalid, the first problem only (the apiserver lists them all; one is what the tests need)."""
    if not name:
        raise KubeError(422, _invalid(kind, name, "metadata.name", "FieldValueRequired",
                                      "Required value: name or generateName is required"))
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise KubeError(422, _invalid(kind, name, "metadata.name", "FieldValueInvalid",
                                      f'Invalid value: "{name}": {_DNS_MESSAGE}'))
    if kind is LEASES:
        spec = body.get("spec") or {}
        duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
        if duration is not None and duration <= 0:
            raise KubeError(422, _invalid(kind, name, "spec.leaseDurationSeconds", "FieldValueInvalid",
                                          f"Invalid value: {duration}: must be greater than 0"))
        if transitions is not None and transitions < 0:
            raise KubeError(422, _invalid(kind, name, "spec.leaseTransitions", "FieldValueInvalid",
                                          f"Invalid value: {transitions}: must be greater than or equal to 0"))
        return
    data, binary = body.get("data") or {}, body.get("binaryData") or {}
    for section, keys in (("data", data), ("binaryData", binary)):
        for key in keys:
            if len(key) > 253 or not _CONFIG_KEY.fullmatch(key):
                raise KubeError(422, _invalid(kind, name, f"{section}[{key}]", "FieldValueInvalid",
                                              f'Invalid value: "{key}": {_KEY_MESSAGE}'))
    for key in binary:
        if key in data:
            raise KubeError(422, _invalid(kind, name, f"binaryData[{key}]", "FieldValueInvalid",
                                          f'Invalid value: "{key}": duplicate of key present in data'))
    size = sum(len(k) + len(v.encode("utf-8")) for k, v in data.items())
    size += sum(len(k) + len(base64.b64decode(v)) for k, v in binary.items())
    if size > CONFIGMAP_MAX_BYTES:
        raise KubeError(422, _invalid(kind, name, "[]", "FieldValueTooLong",
                                      f"Too long: must have at most {CONFIGMAP_MAX_BYTES} bytes"))
    if stored is not None and stored.get("immutable"):
        if not body.get("immutable"):
            raise KubeError(422, _invalid(kind, name, "immutable", "FieldValueForbidden",
                                          "Forbidden: field is immutable when `immutable` is set"))
        if data != (stored.get("data") or {}) or binary != (stored.get("binaryData") or {}):
            raise KubeError(422, _invalid(kind, name, "data", "FieldValueForbidden",
                                          "Forbidden: field is immutable when `immutable` is set"))


def _microtime_error(value: str) -> str | None:
    """None when Go's ``time.Parse(RFC3339Micro, value)`` accepts it, else its complaint (roughly)."""
    prefix = f'parsing time "{value}" as "{MICROTIME_LAYOUT}": '
    head = re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", value)
    if head is None:
        return f'{prefix}cannot parse "{value}" as "{MICROTIME_LAYOUT}"'
    rest = value[head.end():]
    if not re.match(r"\.\d{6}", rest):
        return f'{prefix}cannot parse "{rest}" as ".000000"'
    if not re.fullmatch(r"Z|[+-]\d\d:\d\d", rest[7:]):
        return f'{prefix}cannot parse "{rest[7:]}" as "Z07:00"'
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        return f'parsing time "{value}": {exc}'
    return None


def _micro(value: str) -> str:
    """A MicroTime as the apiserver writes it back: UTC, six digits (LEASE.md §1)."""
    assert _MICRO.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def _check_namespace(metadata: dict[str, Any], namespace: str) -> None:
    if metadata.get("namespace") and metadata["namespace"] != namespace:
        raise KubeError(400, _status(400, "BadRequest", "the namespace of the provided object does not match the "
                                                        "namespace sent on the request"))


# --- small helpers ----------------------------------------------------------------------------------

def _strings(value: tuple[str, ...] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _any(allowed: tuple[str, ...] | str, value: str) -> bool:
    return "*" in _strings(allowed) or value in _strings(allowed)


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _verb(method: str, named: bool) -> str | None:
    if named:
        return {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    return {"GET": "list", "POST": "create"}.get(method)


def _attributes(method: str, path: str) -> tuple[str, str, str, str]:
    """(verb, resource, namespace, name) as RBAC would see the request ("" where there is none)."""
    if path == _SSAR:
        return ("create" if method == "POST" else method.lower()), "selfsubjectaccessreviews", "", ""
    match = _PATH.match(path)
    if match is None:
        return method.lower(), "", "", ""
    return _verb(method, bool(match["name"])) or method.lower(), match["res"], match["ns"], match["name"] or ""


def _manager(headers: dict[str, str]) -> str:
    """The field manager the apiserver derives from the User-Agent (its part before the first '/')."""
    return (headers.get("user-agent") or "unknown").split("/")[0] or "unknown"


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _fields(value: dict[str, Any]) -> dict[str, Any]:
    """managedFields' FieldsV1 for the fields set in ``value``."""
    return {f"f:{k}": (_fields(v) if isinstance(v, dict) else {}) for k, v in value.items() if v not in (None, {})}


def _string_map(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def kubeconfig(path: Path, server: str, token: str, namespace: str = "slackgenie", context: str = "emulator") -> Path:
    """Write a kubeconfig (YAML) at ``path``: one cluster at ``server`` (plain HTTP, loopback), one user with
    the bearer ``token``, one context (the current one) with ``namespace``. Returns ``path``."""
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    path.write_text("\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        f"- name: {q(context)}",
        "  cluster:",
        f"    server: {q(server)}",
        "users:",
        f"- name: {q(context)}",
        "  user:",
        f"    token: {q(token)}",
        "contexts:",
        f"- name: {q(context)}",
        "  context:",
        f"    cluster: {q(context)}",
        f"    user: {q(context)}",
        f"    namespace: {q(namespace)}",
        f"current-context: {q(context)}",
        "preferences: {}",
        ""]))
    return path
