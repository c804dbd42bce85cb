"""The Pythons the README promises are the ones the project and every dependency accept."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _floor() -> Version:
    match = re.search(r"Python (\d+\.\d+)\+", (ROOT / "README.md").read_text())
    assert match, "README.md must say which Pythons it needs, as 'Python 3.N+'"
    return Version(match.group(1))


def test_readme_floor_is_the_packages_floor() -> None:
    floor = _floor()
    spec = SpecifierSet(_project()["requires-python"])
    assert floor in spec, f"README says Python {floor}+, pyproject says {spec}"
    below = Version(f"{floor.major}.{floor.minor - 1}")
    assert below not in spec, f"pyproject admits Python {below}, which the README does not promise"
    assert Version(f"{sys.version_info.major}.{sys.version_info.minor}") >= floor


def test_every_dependency_accepts_the_floor() -> None:
    floor = Version(f"{_floor()}.0")
    project = _project()
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    refused = []
    for req in requirements:
        try:
            needs = metadata.metadata(req.name).get("Requires-Python")
        except metadata.PackageNotFoundError:
            refused.append(f"{req.name}: not installed")
            continue
        if needs and floor not in SpecifierSet(needs):
            refused.append(f"{req.name} {metadata.version(req.name)} requires Python {needs}")
    assert not refused, "dependencies that refuse the README's Python floor: " + "; ".join(refused)


def test_the_product_wheel_ships_no_emulators(tmp_path: Path) -> None:
    import subprocess
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=120)
    [wheel] = tmp_path.glob("slackgenie-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.startswith("slackgenie/") for n in names)
    assert not [n for n in names if "emulators" in n]
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [r for r in requires if "websockets" in r or "dateutil" in r], requires
    with zipfile.ZipFile(wheel) as zf:  # nor any module that needs them: not even a lazy import
        importing = [n for n in names if n.endswith(".py") and _imports(zf.read(n).decode(), "slackgenie_emulators")]
    assert not importing, f"modules of the wheel that import the emulators: {importing}"


def _imports(source: str, package: str) -> bool:
    """Whether ``source`` imports ``package`` anywhere (at the top, in a function, relatively not)."""
    import ast

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == package for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package and not node.level:
            return True
    return False


def test_the_import_check_sees_a_lazy_import() -> None:
    assert _imports("def f():\n    from slackgenie_emulators.sample import X\n", "slackgenie_emulators")
    assert _imports("import slackgenie_emulators as e\n", "slackgenie_emulators")
    assert not _imports("from slackgenie.core.model import X  # slackgenie_emulators\n", "slackgenie_emulators")


def test_the_demo_runs_from_the_emulators_package(tmp_path: Path) -> None:
    """`slackgenie demo` (what `make demo` runs) finds its driver through the emulators' entry point."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "slackgenie", "demo"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "== First sync" in proc.stdout and "== Sync after the handoff" in proc.stdout
    assert proc.stdout.rstrip().endswith("Demo finished: all groups in sync.")
    assert not list(tmp_path.iterdir())  # nothing left behind in the working directory


def test_every_provider_name_has_a_source_and_every_source_a_name() -> None:
    from slackgenie.core.model import PROVIDER_TITLES
    from slackgenie.sources.providers import PROVIDERS

    assert set(PROVIDERS) == set(PROVIDER_TITLES)
    assert all(spec.name == name for name, spec in PROVIDERS.items())
