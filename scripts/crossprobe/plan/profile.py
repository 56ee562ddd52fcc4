"""A SLURM profile for an experiment, written whole from the template (`profiles/slurm/`): the
cluster's names filled in where given (the rest kept as <...> for the user), the caps a retry
stops at, and per model rule its GPU request and its first attempt's runtime, planned from the
slowest of its jobs on a card. The template's comments, settings and YAML anchor are kept."""

import math
from pathlib import Path

import yaml

from crossprobe.contract.model_tasks import MODEL_RULES
from crossprobe.contract.resources import PLUGIN_GPU_MODEL, profile_problems
from crossprobe.plan.counting import job_works
from crossprobe.plan.pricing import seconds_on

TEMPLATE = Path(__file__).resolve().parents[3] / "profiles" / "slurm" / "config.yaml"
# the template's placeholders, by the option that fills each in
PLACEHOLDERS = {
    "partition": "<cpu-partition>",
    "gpu_partition": "<gpu-partition>",
    "gpu_type": "<gpu-type>",
    "account": "<account>",
}
SET_RESOURCES = "\nset-resources:\n"
ANCHOR = "gpu_job"


def planned_runtimes(config, sources, jobs, card: str, mfu: float, gpu_mem_gb) -> dict:
    """{model rule: minutes of its first attempt}: its slowest job on `card`, doubled for what
    the plan does not count (loading, start-up, a slower card day), in tens, at least 30."""
    slowest = {}
    for _, _, rule, work in job_works(config, sources, jobs, gpu_mem_gb):
        slowest[rule] = max(slowest.get(rule, 0.0), seconds_on(card, mfu, work))
    return {rule: max(30, 10 * math.ceil(2 * s / 60 / 10)) for rule, s in slowest.items()}


def gpu_request(gpu_type: str, gpus: int) -> list[str]:
    """The lines of a model rule's GPU request: `gpu_model` where the SLURM plugin accepts the
    type's name, else the rule's own `gpu` resource off and the request in SLURM's words."""
    if gpu_type == PLACEHOLDERS["gpu_type"] or PLUGIN_GPU_MODEL.match(gpu_type):
        return [f'gpu_model: {gpu_type}     # as the cluster names it: sinfo -o "%P %G"']
    return [
        "gpu: 0                    # the plugin refuses this type's name as gpu_model:",
        f"slurm_extra: \"'--gpus-per-node={gpu_type}:{gpus or 1}'\"",
    ]


def write_profile(
    template: str,
    runtimes: dict,
    gpus: int,
    written_by: str,
    caps: dict | None = None,
    **names,
) -> str:
    """The profile text: `template` with the placeholders of `names` (partition, gpu_partition,
    gpu_type, account; an empty account means none) filled in, the `caps` (max_runtime,
    max_mem_mb) set, and a set-resources entry per model rule with its GPU request and its
    planned runtime (`runtimes`, minutes)."""
    head, _ = template.split(SET_RESOURCES)
    given = {k: v for k, v in names.items() if v is not None}
    settings = []  # the template's lines, its comments kept as they are
    for line in head.splitlines():
        if not line.lstrip().startswith("#"):
            if given.get("account") == "":  # no accounts: the plugin is told so
                if PLACEHOLDERS["account"] in line:
                    continue
                line = line.replace("slurm-no-account: false", "slurm-no-account: true")
            for key, value in given.items():
                line = line.replace(PLACEHOLDERS[key], value)
            for cap, value in (caps or {}).items():
                if line.startswith(f"  {cap}:"):
                    line = f"  {cap}: {value}"
        settings.append(line)
    partition = given.get("gpu_partition", PLACEHOLDERS["gpu_partition"])
    request = gpu_request(given.get("gpu_type", PLACEHOLDERS["gpu_type"]), gpus)
    lines = [f"# {written_by}; the template's notes follow", *settings, SET_RESOURCES.strip()]
    for i, rule in enumerate(MODEL_RULES):
        planned = [f"planned_runtime: {runtimes[rule]}"] if rule in runtimes else []
        if i == 0:
            own = [f"slurm_partition: {partition}", *request, *planned]
            lines += [f"  {rule}: &{ANCHOR}", *(f"    {x}" for x in own)]
        else:
            lines += [f"  {rule}:", f"    <<: *{ANCHOR}", *(f"    {x}" for x in planned)]
    text = "\n".join(lines) + "\n"
    written = yaml.safe_load(text)["set-resources"]
    problems = profile_problems(written, gpus)
    assert not problems, problems  # the writer writes nothing the workflow would refuse
    return text
