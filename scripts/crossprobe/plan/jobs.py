"""The model jobs of an experiment, as Snakemake's summary of its DAG lists them."""

import subprocess
import sys
from pathlib import Path

from crossprobe.contract.model_tasks import MODEL_RULES, job_of


def model_jobs(configfile: Path, workdir: Path) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every model job the DAG of `configfile` holds, done or not."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--summary", "--configfile", str(configfile)],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"snakemake could not plan {configfile}:\n{out.stderr[-3000:]}")
    jobs = []
    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) > 2 and parts[2] in MODEL_RULES:
            job = job_of(parts[0])
            if job and job[0] == parts[2]:
                jobs.append(job)
    return jobs
