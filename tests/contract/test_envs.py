"""The conda environments (`envs/*.yaml`, for `--software-deployment-method conda`) held to the pip
stack the Makefile and CI install: no conda channel can be reached here to solve them, so a test
keeps them honest. Each env pins only packages that `requirements.txt` lists, at a version its
range admits, and holds every third-party package the scripts of its rules import (the adapters
and the library modules they import, as `crossprobe.dag.module_inputs` finds them)."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from crossprobe.dag import module_inputs
from helpers import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
RULE = re.compile(r"^rule (\w+):", re.M)
DIRECTIVE = re.compile(r'^    (conda|script):\n        "\.\./([^"]+)"', re.M)


def requirements() -> dict[str, Requirement]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    found = [Requirement(x.split("#")[0]) for x in lines if x.strip() and not x.startswith("#")]
    return {canonicalize_name(r.name): r for r in found}


def pinned(env: Path) -> dict[str, str]:
    """{package: version} of an env's pip list (every entry pinned with ==)."""
    spec = yaml.safe_load(env.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    pins = {}
    for line in pip:
        name, _, version = line.partition("==")
        assert version, f"{env.name}: {line!r} is not pinned (expected name==version)"
        pins[canonicalize_name(name)] = version
    return pins


def rule_scripts() -> dict[str, list[Path]]:
    """{env file name: the scripts of the rules that run in it}."""
    scripts: dict[str, list[Path]] = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for body in RULE.split(smk.read_text())[2::2]:
            found = dict(DIRECTIVE.findall(body))
            if "conda" in found and "script" in found:
                env = Path(found["conda"]).name
                scripts.setdefault(env, []).append(REPO / found["script"])
    return scripts


def imported_distributions(script: Path) -> set[str]:
    """The third-party distributions a script imports, directly or through crossprobe."""
    files = [script, *map(Path, module_inputs(script, REPO / "scripts/crossprobe"))]
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    owners = packages_distributions()
    third_party = names - set(sys.stdlib_module_names) - {"crossprobe", "__future__"}
    return {canonicalize_name(d) for n in third_party for d in owners.get(n, [n])}


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_an_env_pins_what_requirements_lists_at_a_version_it_admits(env):
    wanted = requirements()
    for name, version in pinned(env).items():
        assert name in wanted, f"{env.name}: {name} is not in requirements.txt"
        assert wanted[name].specifier.contains(version, prereleases=True), (
            f"{env.name}: {name}=={version} is outside requirements.txt's {wanted[name]}"
        )


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_an_env_holds_every_package_its_rules_scripts_import(env):
    scripts = rule_scripts()[env.name]
    missing = {
        (script.relative_to(REPO).as_posix(), name)
        for script in scripts
        for name in imported_distributions(script) - set(pinned(env))
    }
    assert not missing, f"{env.name} lacks what its rules' scripts import: {sorted(missing)}"
