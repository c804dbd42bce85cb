"""A small stand-in for the Kubernetes API server, for the lease tests until the emulators carry one:
Leases and ConfigMaps (get, create, replace with a resourceVersion: 404, 409 AlreadyExists, 409
Conflict, 422 without one), SelfSubjectAccessReviews (every verb allowed unless ``deny`` names it),
a request log, and ``down`` (every connection dropped unanswered: the API server unreachable).
Its answers follow ../shared/specs/kubernetes/LEASE.md §2."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[a-z0-9.]+)/v1)/namespaces/(?P<ns>[^/]+)/(?P<res>leases|configmaps)"
                  r"(?:/(?P<name>[^/?]+))?$")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    at: float  # time.monotonic()


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.versions = itertools.count(100)
        self.log: list[Call] = []
        self.down = False
        self.deny: set[tuple[str, str]] = set()  # (verb, resource) a SelfSubjectAccessReview refuses
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, directory: Path, namespace: str = "slackgenie") -> Path:
        path = directory / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "emu",
            "clusters": [{"name": "emu", "cluster": {"server": self.url}}],
            "users": [{"name": "emu", "user": {"token": "emulated-service-account-token"}}],
            "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu", "namespace": namespace}}]}))
        return path

    def get(self, resource: str, name: str, namespace: str = "slackgenie") -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            return json.loads(json.dumps(obj)) if obj else None

    def calls(self, since: float = 0.0) -> list[Call]:
        with self.lock:
            return [c for c in self.log if c.at >= since]

    def serve(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and method == "POST":
            attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
            allowed = (attributes.get("verb"), attributes.get("resource")) not in self.deny
            return 201, {**body, "status": {"allowed": allowed}}
        match = PATH.match(path.split("?")[0])
        if not match:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        resource, ns, name = match["res"], match["ns"], match["name"]
        group = "coordination.k8s.io" if resource == "leases" else ""
        full = f"{resource}.{group}" if group else resource
        with self.lock:
            if method == "GET" and name:
                obj = self.objects.get((resource, ns, name))
                if obj is None:
                    return 404, _status(404, "NotFound", f'{full} "{name}" not found')
                return 200, obj
            if method == "POST" and not name:
                name = (body.get("metadata") or {}).get("name", "")
                if (resource, ns, name) in self.objects:
                    return 409, _status(409, "AlreadyExists", f'{full} "{name}" already exists')
                return 201, self._store(resource, ns, name, body)
            if method == "PUT" and name:
                stored = self.objects.get((resource, ns, name))
                version = (body.get("metadata") or {}).get("resourceVersion")
                if stored is None:
                    if resource == "configmaps":
                        return 404, _status(404, "NotFound", f'{full} "{name}" not found')
                    return 201, self._store(resource, ns, name, body)
                if not version and resource == "leases":
                    return 422, _status(422, "Invalid", "metadata.resourceVersion: must be specified for an update")
                if version and version != stored["metadata"]["resourceVersion"]:
                    return 409, _status(409, "Conflict", f'Operation cannot be fulfilled on {full} "{name}": the '
                                        "object has been modified; please apply your changes to the latest version "
                                        "and try again")
                return 200, self._store(resource, ns, name, body)
        return 405, _status(405, "MethodNotAllowed", "method not allowed")

    def _store(self, resource: str, ns: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec") or {}
        for key in ("acquireTime", "renewTime"):  # MicroTime: exactly six digits (LEASE.md §1)
            if key in spec and spec[key] is not None:
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", spec[key]), spec[key]
        obj = json.loads(json.dumps(body))
        obj["metadata"] = {**(obj.get("metadata") or {}), "name": name, "namespace": ns,
                           "resourceVersion": str(next(self.versions))}
        self.objects[(resource, ns, name)] = obj
        return obj


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _handler(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if kube.down:  # unreachable: the connection drops without an answer
                with kube.lock:
                    kube.log.append(Call(self.command, self.path, 0, time.monotonic()))
                self.close_connection = True
                return
            status, body = kube.serve(self.command, self.path, json.loads(raw) if raw else {})
            with kube.lock:
                kube.log.append(Call(self.command, self.path, status, time.monotonic()))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

    return Handler


# --- the tests ------------------------------------------------------------------------------------
import pytest  # noqa: E402

from slackgenie.kube.client import NoCredentials, connect  # noqa: E402
from slackgenie.kube.lease import Lease  # noqa: E402
from slackgenie.ops.check_lease import lease_items  # noqa: E402
from slackgenie.settings import load  # noqa: E402

DURATION = 5


def wait_until(predicate: Any, seconds: float) -> float | None:
    """Seconds until ``predicate()`` held (polled every 20 ms), None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


@pytest.fixture
def kube(tmp_path: Path) -> Any:
    with FakeKube() as fake:
        yield fake


def candidates(kube: FakeKube, tmp_path: Path, n: int = 2) -> list[Lease]:
    env = {"KUBECONFIG": str(kube.kubeconfig(tmp_path))}
    return [Lease(connect(None, env).leases, "slackgenie", "slackgenie", DURATION, f"pod-{i}") for i in range(n)]


def test_one_holder_renews_and_a_release_hands_over_at_once(kube: FakeKube, tmp_path: Path) -> None:
    a, b = candidates(kube, tmp_path)
    told: list[bool] = []
    a.listen(told.append)
    a.start()
    assert wait_until(a.may_write, 3) is not None
    b.start()
    try:
        time.sleep(DURATION * 1.5)  # several renewals; b never writes meanwhile
        assert a.may_write() and not b.may_write()
        lease = kube.get("leases", "slackgenie")
        assert lease is not None and lease["spec"]["holderIdentity"] == "pod-0"
        assert lease["spec"]["leaseDurationSeconds"] == DURATION and lease["spec"]["leaseTransitions"] == 0
        assert told == [True]
        assert a.release()
        assert not a.may_write() and told == [True, False]
        handed = wait_until(b.may_write, 3)
        assert handed is not None and handed < 1.5  # b polls every second at most
        lease = kube.get("leases", "slackgenie")
        assert lease is not None and lease["spec"]["holderIdentity"] == "pod-1"
        assert lease["spec"]["leaseTransitions"] == 0  # taken from nobody: not a transition
    finally:
        a.stop()
        b.release()


def test_a_holder_that_dies_is_replaced_after_the_duration_not_before(kube: FakeKube, tmp_path: Path) -> None:
    a, b = candidates(kube, tmp_path)
    a.start()
    assert wait_until(a.may_write, 3) is not None
    b.start()
    try:
        time.sleep(1.0)
        a.stop()  # no release: as after kill -9
        died = time.monotonic()
        renewed = (kube.get("leases", "slackgenie") or {})["metadata"]["resourceVersion"]
        assert wait_until(b.may_write, DURATION + 4) is not None
        lease = kube.get("leases", "slackgenie")
        assert lease is not None and lease["spec"]["holderIdentity"] == "pod-1"
        assert lease["spec"]["leaseTransitions"] == 1 and lease["metadata"]["resourceVersion"] != renewed
        # Not before the record had stood unchanged for its duration (a renewed it within the last
        # duration/3 before it died).
        assert time.monotonic() - died >= DURATION - DURATION / 3 - 0.1
    finally:
        b.release()


def test_an_unreachable_api_server_shuts_the_gate_before_the_lease_can_lapse(kube: FakeKube, tmp_path: Path) -> None:
    a, b = candidates(kube, tmp_path)
    a.start()
    assert wait_until(a.may_write, 3) is not None
    b.start()
    try:
        time.sleep(0.5)
        kube.down = True
        cut = time.monotonic()
        shut = wait_until(lambda: not a.may_write(), DURATION)
        assert shut is not None and shut <= DURATION - DURATION / 3 + 0.2  # at the margin, at the latest
        time.sleep(DURATION)  # nobody writes while the API server is away
        assert not a.may_write() and not b.may_write()
        kube.down = False
        back = wait_until(lambda: a.may_write() or b.may_write(), DURATION + 3)
        assert back is not None and time.monotonic() - cut > DURATION
        assert a.may_write() != b.may_write()
    finally:
        a.release()
        b.release()


def test_credentials_come_from_kubeconfig_or_the_pod_and_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NoCredentials, match="KUBECONFIG"):
        connect(None, {})
    (tmp_path / "sa").mkdir()
    with pytest.raises(NoCredentials, match="automountServiceAccountToken"):
        connect(None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path / "sa")


def test_check_lists_credentials_the_objects_and_the_rbac_verbs(kube: FakeKube, tmp_path: Path) -> None:
    from slackgenie_emulators.sample import SAMPLE_CONFIG

    path = tmp_path / "slackgenie.yaml"
    path.write_text("leader_election: {lease: slackgenie, duration: 5}\nprovider: opsgenie\n" + SAMPLE_CONFIG)
    env = {"KUBECONFIG": str(kube.kubeconfig(tmp_path)), "OPSGENIE_API_KEY": "emulated-opsgenie-key", "SLACK_BOT_TOKEN": "xoxb-emulated-token"}
    config = load(str(path), env)
    items = list(lease_items(config, env))
    assert all(ok for ok, _, _ in items), items
    texts = [what for _, what, _ in items]
    assert "namespace slackgenie" in texts[0] and "KUBECONFIG" in texts[0]
    assert any("Lease slackgenie" in t and "does not exist yet" in t for t in texts)
    assert any("ConfigMap slackgenie-state" in t for t in texts)
    assert sum(t.startswith("RBAC: get, create and update") for t in texts) == 2
    kube.deny = {("update", "configmaps")}
    refused = [(what, fix) for ok, what, fix in lease_items(config, env) if not ok]
    assert refused == [("RBAC: this identity may not update configmaps (slackgenie-state) in namespace slackgenie",
                        'grant get, create and update on configmaps in the core group ("") in namespace '
                        "slackgenie (the Role and RoleBinding in deploy/kubernetes)")]
    assert list(lease_items(config, {}))[0][0] is False
