"""Every command the README and docs/ write, as a user types it: the cheap ones are run from the
workflow's folder (dry runs, the plan, --help, the profile writer) and must end well or name what
they lack, never in a traceback; the others are listed here with the reason they are not run,
so a command added to the docs without either fails this test. Every YAML block the docs
present as a config validates against the schema; a fragment says so in its first line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossprobe.contract.config import SCHEMA_FILE, load_schema, validate_config
from helpers import REPO, make_workdir

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench/README.md"]
# documented commands that are not run here, and why (a regular expression matched at the
# command's start)
NOT_RUN = {
    "make ": "installs or runs the whole workflow or suite: CI runs make install, lint and test",
    "source ": "activates the venv in the user's shell",
    "export ": "sets the user's environment",
    "hf auth login": "asks for a hub token",
    "tmux ": "opens a terminal session",
    "mkdir ": "makes a folder",
    "F=": "sets a shell variable for the next command",
    "bash bench/gpu.sh": "runs on a GPU; tests/models/test_gpu_bench.py runs it at a tiny size",
    ".venv/bin/python -c": "asks torch about CUDA on a GPU machine",
    "snakemake download": "reaches the hub",
    "snakemake --workflow-profile": "submits to a SLURM cluster: tests/slurm run it on theirs",
    "snakemake --configfile configs/paper.yaml --workflow-profile": "submits to a SLURM cluster",
    "snakemake -n --workflow-profile profiles/mycluster": (
        "dry-runs a profile the plan wrote with the cluster's names: "
        "tests/workflow/test_profile.py dry-runs one"
    ),
    "python -m crossprobe.plan --configfile configs/paper.yaml --model-config": (
        "the paper preset's whole plan from its models' published shapes (minutes): "
        "tests/workflow/test_plan.py runs it"
    ),
    "snakemake probe": "runs part of the default workflow (minutes)",
    "snakemake --report": "builds the report of a finished run",
    "snakemake$": "runs the default workflow (minutes): make run does",
    "python bench/": "benchmarks a finished run or a GPU (bench/README.md)",
}
# what a plan command needs that only `snakemake download` or --model-config gives
NAMED = re.compile(r"--model-config|--answer-set-rows|snakemake download")


def commands(path: Path) -> list[tuple[int, str, str]]:
    """(line, command, the shell variables set before it in the file) of every line of the
    file's bash blocks, continuation lines joined, comments dropped, `a && b` as two commands."""
    found, block, start, joined, variables = [], False, 0, "", ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("```"):
            block = line.strip() == "```bash"
            continue
        if not block:
            continue
        start = start or number
        joined += " " + line.split(" #")[0].strip().removesuffix("\\").strip()
        if line.rstrip().endswith("\\"):
            continue
        for command in joined.split("&&"):
            command = " ".join(command.split())
            if command and not command.startswith("#"):
                found.append((start, command, variables))
            if re.fullmatch(r"[A-Z_]+=\S+", command):
                variables += f"{command}\n"
        start, joined = 0, ""
    return found


DOCUMENTED = [
    (f"{path.relative_to(REPO)}:{line}", command, variables)
    for path in DOCS
    for line, command, variables in commands(path)
]


def runnable(command: str) -> bool:
    """A cheap command, run here: a dry run of the workflow or the plan."""
    words = command.split()
    return words[:2] == ["snakemake", "-n"] or words[:3] == ["python", "-m", "crossprobe.plan"]


def not_run(command: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if re.match(start, command)), None)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """A copy of the workflow with its own config, where commands that write may write."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return make_workdir(tmp_path_factory.mktemp("docs") / "workflow", config)


@pytest.mark.parametrize("where,command,variables", DOCUMENTED, ids=[w for w, *_ in DOCUMENTED])
def test_a_documented_command_runs_as_written_or_is_listed_with_why_not(
    where, command, variables, workflow_copy
):
    if not_run(command):
        pytest.skip(not_run(command))
    assert runnable(command), f"{where}: {command!r} is neither run nor listed in NOT_RUN"
    bin_dir = Path(sys.executable).parent  # the venv's, as an activated venv puts first
    result = subprocess.run(
        ["bash", "-c", variables + command],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    said = result.stdout + result.stderr
    assert "Traceback" not in said, f"{where}: {command}\n{said[-3000:]}"
    # the plan before `snakemake download` names what it lacks; anything else ends well
    plan = "crossprobe.plan" in command
    assert result.returncode == 0 or (plan and NAMED.search(said)), f"{where}: {command}\n{said}"


def yaml_blocks(path: Path) -> list[tuple[int, str]]:
    blocks, lines, start = [], None, 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() == "```yaml":
            lines, start = [], number
        elif line.startswith("```") and lines is not None:
            blocks.append((start, "\n".join(lines)))
            lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


CONFIG_BLOCKS = [
    (f"{path.relative_to(REPO)}:{line}", text) for path in DOCS for line, text in yaml_blocks(path)
]


@pytest.mark.parametrize("where,text", CONFIG_BLOCKS, ids=[w for w, _ in CONFIG_BLOCKS])
def test_a_documented_config_validates_against_the_schema(where, text):
    if text.lstrip().startswith("# fragment"):
        pytest.skip("a fragment of a config, said so in its first line")
    validate_config(yaml.safe_load(text), load_schema(SCHEMA_FILE))


def test_the_docs_have_commands_and_configs_to_check():
    assert len(DOCUMENTED) > 20 and len(CONFIG_BLOCKS) >= 2
