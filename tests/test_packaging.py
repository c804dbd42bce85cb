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


def test_every_provider_name_has_a_source_and_every_source_a_name() -> None:
    from slackgenie.model import PROVIDER_TITLES
    from slackgenie.sources.providers import PROVIDERS

    assert set(PROVIDERS) == set(PROVIDER_TITLES)
    assert all(spec.name == name for name, spec in PROVIDERS.items())
