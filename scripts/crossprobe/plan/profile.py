"""A SLURM profile's resources for the model rules, from the plan."""

import math

from crossprobe.contract.model_tasks import MODEL_RULES
from crossprobe.plan.counting import job_works
from crossprobe.plan.pricing import seconds_on
from crossprobe.plan.texts import Sources


def set_resources(config, sources: Sources, jobs, card: str, mfu: float, gpu_mem_gb) -> str:
    """A profile's set-resources block: per model rule, the runtime (minutes) of its slowest job
    on `card`, doubled for what the plan does not count (loading, start-up, a slower card day)
    and at least 30; retries double it again."""
    slowest = {}
    for _, _, rule, work in job_works(config, sources, jobs, gpu_mem_gb):
        slowest[rule] = max(slowest.get(rule, 0.0), seconds_on(card, mfu, work))
    lines = [f"set-resources:  # from python -m crossprobe.plan, {card} at {mfu:.0%}"]
    for rule in MODEL_RULES:
        if rule in slowest:
            minutes = max(30, 10 * math.ceil(2 * slowest[rule] / 60 / 10))
            lines += [f"  {rule}:", f"    runtime: {minutes}"]
    return "\n".join(lines)
