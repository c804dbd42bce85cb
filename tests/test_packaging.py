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
