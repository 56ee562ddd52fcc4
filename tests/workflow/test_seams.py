"""The joins the workflow keeps between its declarations and its rules, held by a fast test for
the default config and both presets (the workflow loaded through the Snakemake API, its DAG
built, nothing run):

- rule <-> model task: every model task's functions resolve; the rule it names exists, writes the
  task's output, and passes the task's settings as its `settings` params, for a real job;
- job <-> footprint: the rules that ask for a GPU are exactly the model tasks' rules, and no job
  code names a footprint: a job sizes its batches for its task's (`models.lm.job_budget`);
- profile <-> model rules: the SLURM template sends exactly the model rules to the GPU
  partition.
"""

import ast
import os

import pytest
import yaml

from crossprobe.contract.model_tasks import (
    MODEL_RULES,
    MODEL_TASKS,
    Footprint,
    function,
    task_of,
)
from helpers import REPO

CONFIGS = {
    "default": REPO / "config.yaml",
    "paper": REPO / "configs/paper.yaml",
    "paper-generated": REPO / "configs/paper-generated.yaml",
}
# the modules that may name a footprint: where footprints are declared, counted and planned
COUNTING = {"contract/model_tasks.py", "models/memory.py", "plan/counting.py"}


@pytest.fixture(scope="module", params=list(CONFIGS))
def loaded(request):
    """(the validated config, the parsed workflow, {rule: one of its jobs}) of a config."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
    )

    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
            api_workflow = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(configfiles=[CONFIGS[request.param]]),
                snakefile=REPO / "Snakefile",
                workdir=REPO,
            )
            api_workflow.dag(DAGSettings(targets={"all"}, forceall=True))
            workflow = api_workflow._workflow
            # the DAG as `snakemake --summary` builds it: every job, done or not
            workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
            workflow._build_dag()
            jobs = {}
            for job in workflow.dag.jobs:
                jobs.setdefault(job.rule.name, job)
            yield workflow.config, workflow, jobs
    finally:
        os.chdir(cwd)


def test_every_model_tasks_functions_resolve():
    for task in MODEL_TASKS.values():
        assert callable(function(task.work)), task.name
        assert callable(function(task.lengths)), task.name


def test_each_model_rule_writes_its_tasks_output_and_passes_its_settings(loaded):
    config, workflow, jobs = loaded
    rules = {rule.name for rule in workflow.rules}
    answering = config["data"]["answer_format"]
    for rule in MODEL_RULES:
        assert rule in rules, f"model task rule {rule!r} is not a rule of the workflow"
        job = jobs.get(rule)
        if job is None:  # this experiment has no job of it (no judge, say)
            continue
        task = task_of(rule, answering)
        wildcards = dict(job.wildcards.items())
        assert task.output.format(**wildcards) in map(str, job.output), (rule, task.name)
        assert job.params.settings == task.params(config, wildcards), (rule, task.name)


def test_the_rules_that_ask_for_a_gpu_are_the_model_rules(loaded):
    config, workflow, _ = loaded
    asking = {rule.name for rule in workflow.rules if "gpu" in rule.resources}
    assert asking == set(MODEL_RULES)


def test_no_job_code_names_a_footprint():
    """A model job's batches are sized for its task's footprint, which `job_budget` reads from
    the declaration; a footprint written in job code would be a second home for it."""
    package = REPO / "scripts/crossprobe"
    named = set()
    for path in [*package.rglob("*.py"), *REPO.glob("scripts/*/*.py")]:
        where = path.relative_to(package) if path.is_relative_to(package) else path
        if str(where) in COUNTING:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Footprint"
                and node.attr in Footprint.__members__
            ):
                named.add(f"{where}:{node.lineno}")
    assert not named, f"footprints named in job code: {sorted(named)}"


def test_the_slurm_template_sends_exactly_the_model_rules_to_the_gpu_partition():
    template = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    gpu_rules = {
        rule
        for rule, asked in template["set-resources"].items()
        if asked.get("slurm_partition") == "<gpu-partition>"
    }
    assert gpu_rules == set(MODEL_RULES)
