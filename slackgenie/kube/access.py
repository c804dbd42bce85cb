"""What ``check`` asks of the Kubernetes API for ``leader_election``: can the Lease and the state
ConfigMap be read, and may this identity get, create and update them (a SelfSubjectAccessReview
each: the API server's own RBAC answer, LEASE.md §6)?

A SelfSubjectAccessReview needs no Role: every authenticated identity may create one (the
built-in ClusterRole ``system:basic-user``, bound to ``system:authenticated``); it is
cluster-scoped and asks about the namespace it names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client import AuthorizationV1Api  # type: ignore[import-untyped]
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]
from urllib3.exceptions import HTTPError

from slackgenie.kube.client import Kube
from slackgenie.kube.status import object_of, said

TIMEOUT = 5.0
VERBS = ("get", "create", "update")


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""


@dataclass(frozen=True)
class _Object:
    kind: str  # "Lease", "ConfigMap"
    group: str  # API group ("" for the core group)
    resource: str  # "leases", "configmaps"
    name: str


def findings(kube: Kube, namespace: str, lease: str, state: str) -> list[Finding]:
    """Each object read, then each verb asked of the API server's RBAC."""
    objects = [_Object("Lease", "coordination.k8s.io", "leases", lease),
               _Object("ConfigMap", "", "configmaps", state)]
    found = [_read(kube, namespace, o) for o in objects]
    found += [_may(kube, namespace, o) for o in objects]
    return found


def _read(kube: Kube, namespace: str, obj: _Object) -> Finding:
    method: Callable[..., Any] = (kube.leases.read_namespaced_lease if obj.kind == "Lease"
                                  else kube.core.read_namespaced_config_map)
    what = f"the {obj.kind} {obj.name} in namespace {namespace}"
    try:
        body = object_of(method(obj.name, namespace, _request_timeout=TIMEOUT, _preload_content=False))
    except ApiException as exc:
        if exc.status == 404:
            return Finding(True, f"{what} does not exist yet: the first replica creates it")
        return Finding(False, f"{what} cannot be read ({said(exc)})", _fix(exc.status, obj, namespace))
    except (HTTPError, OSError, ValueError) as exc:
        return Finding(False, f"{what} cannot be read: the Kubernetes API server did not answer "
                              f"({type(exc).__name__})",
                       "check that the API server answers from here (KUBERNETES_SERVICE_HOST or KUBECONFIG)")
    if obj.kind == "Lease":
        holder = ((body.get("spec") or {}).get("holderIdentity")) or "nobody"
        return Finding(True, f"{what} is readable (held by {holder})")
    return Finding(True, f"{what} is readable")


def _may(kube: Kube, namespace: str, obj: _Object) -> Finding:
    """One SelfSubjectAccessReview per verb (create without a name: RBAC cannot limit it to one)."""
    api = AuthorizationV1Api(kube.api_client)
    denied: list[str] = []
    for verb in VERBS:
        attributes = {"namespace": namespace, "verb": verb, "group": obj.group, "resource": obj.resource}
        if verb != "create":
            attributes["name"] = obj.name
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes}}
        try:
            answer = object_of(api.create_self_subject_access_review(body, _request_timeout=TIMEOUT,
                                                                 _preload_content=False))
        except ApiException as exc:
            return Finding(False, f"RBAC for {obj.resource} could not be verified ({said(exc)})",
                           "check the service account's token; a SelfSubjectAccessReview needs no Role")
        except (HTTPError, OSError, ValueError) as exc:
            return Finding(False, f"RBAC for {obj.resource} could not be verified: the Kubernetes API server did "
                                  f"not answer ({type(exc).__name__})",
                           "check that the API server answers from here")
        if not (answer.get("status") or {}).get("allowed"):
            denied.append(verb)
    group = obj.group or 'the core group ("")'
    if denied:
        return Finding(False, f"RBAC: this identity may not {', '.join(denied)} {obj.resource} ({obj.name}) in "
                              f"namespace {namespace}",
                       f"grant get, create and update on {obj.resource} in {group} in namespace {namespace} "
                       "(the Role and RoleBinding in deploy/kubernetes)")
    return Finding(True, f"RBAC: get, create and update on {obj.resource} ({obj.name}) in namespace {namespace}")



def _fix(status: int | None, obj: _Object, namespace: str) -> str:
    if status == 401:
        return "Kubernetes did not accept the credentials: check the service account token or KUBECONFIG"
    if status == 403:
        return (f"grant get, create and update on {obj.resource} in namespace {namespace} "
                "(the Role and RoleBinding in deploy/kubernetes)")
    return "check that the Kubernetes API server answers from here"
