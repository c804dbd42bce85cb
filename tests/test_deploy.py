"""deploy/: manifests validate against the Kubernetes schemas (Kustomize output included) and run
two replicas, one writer (a Lease, the state in a ConfigMap, no shared volume, exactly the RBAC it
needs), the Dockerfile passes hadolint and installs from a lock that covers
pyproject.toml, systemd units pass systemd-analyze (verify, and security rated OK) where it exists,
the crontab guards against overlap, and the alert rules and compose file refer to things that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slackgenie.settings import parse_file
from slackgenie.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"


def _validate(docs: list[dict]) -> None:
    import kubernetes_validate

    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)


@pytest.mark.parametrize("name", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_each_manifest_validates(name: str) -> None:
    _validate([d for d in yaml.safe_load_all((K8S / name).read_text()) if d])


@pytest.mark.skipif(shutil.which("kubectl") is None and shutil.which("kustomize") is None,
                    reason="neither kubectl nor kustomize is installed")
def test_kustomize_output_validates_and_holds_what_production_needs(tmp_path: Path) -> None:
    cmd = ["kubectl", "kustomize", str(K8S)] if shutil.which("kubectl") else ["kustomize", "build", str(K8S)]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    _validate(docs)
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) >= {"Namespace", "ConfigMap", "Deployment", "Service", "ServiceAccount", "Role", "RoleBinding",
                          "PodDisruptionBudget"}
    assert "PersistentVolumeClaim" not in kinds and "CronJob" not in kinds  # no ReadWriteOnce volume to share
    deploy = kinds["Deployment"]
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deploy["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"]
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    # The PodDisruptionBudget and the anti-affinity select the Deployment's own pods.
    budget = kinds["PodDisruptionBudget"]["spec"]
    assert budget["minAvailable"] == 1 and budget["selector"]["matchLabels"].items() <= labels.items()
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname" and term["labelSelector"]["matchLabels"].items() <= labels.items()
    # The pods run as the service account the RoleBinding binds, with its token mounted.
    account = kinds["ServiceAccount"]["metadata"]["name"]
    assert pod["serviceAccountName"] == account and pod["automountServiceAccountToken"] is True
    binding = kinds["RoleBinding"]
    assert binding["roleRef"]["name"] == kinds["Role"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "slackgenie"}]
    assert all(d["metadata"].get("namespace") == "slackgenie" for d in docs if d["kind"] != "Namespace")
    # The ConfigMap's YAML is a valid Slackgenie configuration, with leader_election on.
    config = parse_file(Path("configmap.yaml"), kinds["ConfigMap"]["data"]["slackgenie.yaml"])
    assert config.leader_election is not None


def _config() -> dict:
    return yaml.safe_load(yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]["slackgenie.yaml"])


def test_the_deployment_shares_no_volume_and_keeps_its_cache_in_its_own_pod() -> None:
    """With a read-only root filesystem, `run` can only write its Slack user cache if its working
    directory is a writable volume; an emptyDir is each pod's own, so two replicas share none (what
    was done once lives in the state ConfigMap)."""
    assert not (K8S / "state-pvc.yaml").exists()
    assert "state-pvc.yaml" not in yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    pod = yaml.safe_load((K8S / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert not any("persistentVolumeClaim" in v for v in volumes.values())
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    workdir = mounts[container["workingDir"]]
    assert not workdir.get("readOnly") and "emptyDir" in volumes[workdir["name"]]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    config = _config()
    assert not config["cache_file"].startswith("/")  # relative: in the working directory
    assert "state_file" not in config  # the state is the ConfigMap


def test_the_role_grants_exactly_what_leader_election_needs() -> None:
    """get and update on the Lease and the state ConfigMap by name, create on each kind (RBAC cannot
    limit a create to a name), nothing else (LEASE.md §6)."""
    docs = {d["kind"]: d for d in yaml.safe_load_all((K8S / "rbac.yaml").read_text()) if d}
    election = _config()["leader_election"]
    lease = election["lease"]
    state = election.get("state") or f"{lease}-state"
    granted = {(group, resource, verb, name)
               for rule in docs["Role"]["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
               for verb in rule["verbs"] for name in rule.get("resourceNames", [None])}
    assert granted == {("coordination.k8s.io", "leases", "create", None),
                       ("coordination.k8s.io", "leases", "get", lease),
                       ("coordination.k8s.io", "leases", "update", lease),
                       ("", "configmaps", "create", None),
                       ("", "configmaps", "get", state),
                       ("", "configmaps", "update", state)}
    assert "ClusterRole" not in docs and "ClusterRoleBinding" not in docs


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed")
    result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (DEPLOY / "Dockerfile").read_text()
    assert "HEALTHCHECK" in text and re.search(r"^USER \d+", text, re.M) and text.count("FROM ") == 2


def test_dockerfile_pins_its_base_installs_from_the_lock_and_checks_its_port() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}$", text, re.M)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "--require-hashes -r requirements.lock" in text and "COPY deploy/requirements.lock" in text
    assert re.search(r"pip install [^\n]*--no-deps [^\n]*\.$", text, re.M)
    healthcheck = text[text.index("HEALTHCHECK"):text.index("ENTRYPOINT")]
    assert "PORT" in healthcheck and "3000/" not in healthcheck


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_covers_every_runtime_dependency() -> None:
    """deploy/requirements.lock pins, with hashes, every dependency pyproject.toml declares (and the
    build backend, for `pip install --no-deps --no-build-isolation .`), at a version pyproject allows:
    change [project].dependencies without `make lock` and this fails."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = (DEPLOY / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock[re.search(r"^[A-Za-z0-9]", lock, re.M).start():])
    pins: dict[str, str] = {}
    for block in blocks:
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s|;|\\|$)", block)
        assert match, f"not an exact pin: {block.splitlines()[0]!r}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"no hash for {match[1]}"
        pins[_normalise(match[1])] = match[2]
    wanted = [Requirement(r) for r in pyproject["project"]["dependencies"] + pyproject["build-system"]["requires"]]
    missing = sorted(_normalise(r.name) for r in wanted if _normalise(r.name) not in pins)
    assert not missing, f"not in deploy/requirements.lock (run `make lock`): {missing}"
    outside = sorted(f"{r.name}=={pins[_normalise(r.name)]} (wants {r.specifier})" for r in wanted
                     if not r.specifier.contains(pins[_normalise(r.name)], prereleases=True))
    assert not outside, f"pins pyproject.toml no longer allows (run `make lock`): {outside}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    slackgenie = shutil.which("slackgenie") or str(Path(__import__("sys").executable).parent / "slackgenie")
    for unit in (DEPLOY / "systemd").iterdir():  # point ExecStart at a binary that exists here
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/local/bin/slackgenie", slackgenie))
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [l for l in result.stderr.splitlines() if "slackgenie" in l], result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", ["slackgenie.service", "slackgenie-sync.service"])
def test_systemd_units_are_sandboxed(name: str, tmp_path: Path) -> None:
    """`systemd-analyze security` rates each unit OK (overall exposure at most 2.5 of 10)."""
    unit = tmp_path / name
    unit.write_text((DEPLOY / "systemd" / name).read_text())
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                            capture_output=True, text=True, timeout=60)
    if "offline" in result.stderr and ("unrecognized option" in result.stderr or "Unknown option" in result.stderr):
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= 2.5, result.stdout


def test_crontab_guards_overlap_escapes_percent_and_exports_metrics() -> None:
    text = (DEPLOY / "crontab.example").read_text()
    jobs = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(jobs) == 1
    command = jobs[0].split(None, 6)[6]
    assert "flock -n" in command and "/var/lib/slackgenie/sync.lock" in command
    assert "--metrics-file /var/lib/node_exporter/textfile/slackgenie.prom" in command
    assert not re.search(r"(?<!\\)%", command), "cron turns an unescaped % into a newline"
    assert 'MAILTO=""' in text and ">>/var/log/slackgenie/sync.log 2>&1" in command


def test_alert_rules_use_real_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "slackgenie-alerts.yaml").read_text())
    exported = set(re.findall(r"^# TYPE (\w+)", Metrics().exposition().decode(), re.M))
    exported |= {n + "_total" for n in exported} | {"slackgenie_group_seconds_since_in_sync"}
    used = {m for g in rules["groups"] for r in g["rules"] for m in re.findall(r"slackgenie_\w+", r["expr"])}
    assert used and used <= exported, used - exported
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"SlackgenieGroupNotInSync", "SlackgeniePassesFailing"} <= names


def test_compose_file_runs_the_daemon_against_the_emulators() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["emulators"]["entrypoint"][-1] == "slackgenie_emulators"
    env = services["slackgenie"]["environment"]
    assert env["SLACK_API_URL"].startswith("http://emulators:") and env["OPSGENIE_API_URL"].startswith("http://emulators:")
    parse_file(DEPLOY / "compose" / "slackgenie.yaml", (DEPLOY / "compose" / "slackgenie.yaml").read_text())


def test_standalone_emulators_serve_until_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import sys

    import httpx

    from conftest import clean_env

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "slackgenie_emulators", "--opsgenie-port", str(ports[0]),
                             "--slack-port", str(ports[1])], env=clean_env(), stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert f"127.0.0.1:{ports[0]}" in line
        proc.stdout.readline()  # type: ignore[union-attr]
        r = httpx.post(f"http://127.0.0.1:{ports[1]}/api/auth.test", timeout=5)
        assert r.json() == {"ok": False, "error": "not_authed"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_slack_app_manifest_declares_what_the_app_uses() -> None:
    manifest = yaml.safe_load((DEPLOY / "slack-app-manifest.yaml").read_text())
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/oncall"]
    assert commands[0]["url"].endswith("/slack/events")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"usergroups:read", "usergroups:write", "users:read", "users:read.email", "commands",
            "app_mentions:read", "chat:write"} <= scopes
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {"app_mention", "app_home_opened"}
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
