"""`slackgenie check` with ``leader_election``: the items about Kubernetes (credentials found, the
Lease and the state ConfigMap readable, RBAC verified). ``check`` turns each (ok, what, fix) into
one of its items."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from slackgenie.settings import Config


def lease_items(config: Config, env: Mapping[str, str] | None = None) -> Iterator[tuple[bool, str, str]]:
    """(ok, what, fix) for each thing ``leader_election`` needs; nothing when it is off."""
    election = config.file.leader_election
    if election is None:
        return
    # Imported here: the kubernetes client takes half a second to import, and only this needs it.
    from slackgenie.kube.access import findings
    from slackgenie.kube.client import NoCredentials, connect

    try:
        kube = connect(election.namespace, dict(env) if env is not None else None)
    except NoCredentials as exc:
        yield False, f"leader_election: no Kubernetes credentials ({exc})", \
            "run in a pod with a service account token (automountServiceAccountToken: true), or set KUBECONFIG"
        return
    try:
        yield True, f"leader_election: Kubernetes credentials from {kube.source}, namespace {kube.namespace}", ""
        state = election.state or f"{election.lease}-state"
        for finding in findings(kube, kube.namespace, election.lease, state):
            yield finding.ok, finding.what, finding.fix
    finally:
        kube.close()
