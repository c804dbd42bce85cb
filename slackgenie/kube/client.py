"""Credentials for the Kubernetes API, through the official ``kubernetes`` client: in-cluster (the
pod's service account) or ``KUBECONFIG``; and the namespace the Lease and the state live in.

- ``KUBECONFIG`` set: that file (or list of files), its current context (and that context's
  namespace, else ``default``). How the tests and a developer's laptop reach an API server.
- Else in a pod (``KUBERNETES_SERVICE_HOST`` set): the service account's token and CA under
  ``/var/run/secrets/kubernetes.io/serviceaccount``; the token file is read again at most once a
  minute by the client (projected tokens rotate), and the namespace is the pod's own.
- Else: ``NoCredentials``, saying both ways.

urllib3 does not retry on its own (``retries = 0``): the lease loop and the state store retry
themselves, each request within a timeout they pass (``_request_timeout``), so a hanging API
server costs one timeout and never a multiple of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import config as kube_config  # type: ignore[import-untyped]
from kubernetes.client import ApiClient, Configuration, CoordinationV1Api, CoreV1Api  # type: ignore[import-untyped]
from kubernetes.config.config_exception import ConfigException  # type: ignore[import-untyped]

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class NoCredentials(Exception):
    """No way to the Kubernetes API was found; the message says what to set."""


@dataclass
class Kube:
    """The API clients, where they came from, and the namespace to use when the config names none."""

    api_client: ApiClient
    source: str  # "in-cluster (service account)" or "KUBECONFIG (<context>)"
    namespace: str

    @property
    def leases(self) -> CoordinationV1Api:
        return CoordinationV1Api(self.api_client)

    @property
    def core(self) -> CoreV1Api:
        return CoreV1Api(self.api_client)

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:  # the pool may be half torn down at exit: nothing to keep
            pass


def connect(namespace: str | None = None, env: dict[str, str] | None = None,
            service_account: Path = SERVICE_ACCOUNT) -> Kube:
    """The clients for ``KUBECONFIG`` or the pod's service account (``NoCredentials`` if neither
    can be loaded); ``namespace``: the configured one (None: the pod's or the context's)."""
    env = dict(os.environ) if env is None else env
    configuration = Configuration()
    if env.get("KUBECONFIG"):
        try:
            contexts, current = kube_config.list_kube_config_contexts(config_file=env["KUBECONFIG"])
            kube_config.load_kube_config(config_file=env["KUBECONFIG"], client_configuration=configuration,
                                         persist_config=False)
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            raise NoCredentials(f"KUBECONFIG ({env['KUBECONFIG']}) cannot be used: {exc}") from None
        context = (current or {}).get("context") or {}
        found = namespace or context.get("namespace") or "default"
        source = f"KUBECONFIG (context {(current or {}).get('name', '?')})"
    elif env.get("KUBERNETES_SERVICE_HOST"):
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise NoCredentials(f"the pod's service account cannot be used ({exc}): set "
                                "automountServiceAccountToken: true on the pod (deploy/kubernetes)") from None
        found = namespace or _pod_namespace(service_account)
        source = "in-cluster (service account)"
    else:
        raise NoCredentials("leader_election needs the Kubernetes API: run in a pod with a service account "
                            "token (automountServiceAccountToken: true), or set KUBECONFIG")
    configuration.retries = 0  # the callers retry, each request within its own timeout
    return Kube(ApiClient(configuration), source, found)


def _pod_namespace(service_account: Path) -> str:
    try:
        namespace = (service_account / "namespace").read_text().strip()
    except OSError as exc:
        raise NoCredentials(f"the pod's namespace cannot be read from {service_account / 'namespace'} "
                            f"({exc.strerror}): set leader_election.namespace") from None
    if not namespace:
        raise NoCredentials(f"{service_account / 'namespace'} is empty: set leader_election.namespace")
    return namespace
