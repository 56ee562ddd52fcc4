"""crossprobe: which language model can tell when another model is wrong?

Stage logic lives in this package as plain functions; the scripts under scripts/<stage>/ are thin
Snakemake adapters around them, and rules/<stage>.smk holds the stage's rules. The subpackages
follow the workflow's stages, and a module imports only from its own stage or earlier ones:

    contract    what every stage agrees on: config schema, methods, answer formats, splits,
                paths, prompt texts, resources (torch-free; read while the DAG is built)
    intake      what comes in from outside: model weights, shipped and external question
                tables, labelled answer sets, the split's questions
    models      loading and running causal LMs: batches, tokenisation, a content-addressed store
    answers     answering, grading and the judge
    reads       the frozen estimators' cached reads and the probes trained on them
    lora        LoRA + Prompt training and scoring
    scores      every method's temperature-scaled log-odds per cell (scorer kinds, baselines)
    evaluation  metrics, bootstrap intervals, contrasts, graders' agreement, markdown tables
    figures     the heatmaps and the other figures

`job` (what every adapter does around its stage) and `logodds` sit below every stage; `dag`
(the DAG helpers) and `checks` (the config checks that need every stage's contract) sit above
them all and are imported only by the workflow, never by a job. Nothing but the standard library
is imported at package import time, so building the DAG never imports torch.

A job's process is offline from the Hugging Face hub unless its rule fetches from it (`HUB_RULES`:
they run where the internet is): the switch is set here, when a Snakemake script first imports
the package, so it precedes any hub library's import (huggingface_hub reads it then). A model
job's attempt is recorded here too (`crossprobe.job.record_attempt`), before torch is imported:
an attempt killed for memory while loading its libraries is on record, and its retry asks for
more memory only.
"""

import os
import sys

HUB_RULES = ("prepare_model", "prepare_questions", "import_answers", "prepare_adapter")


def _as_a_job() -> None:
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    rule = getattr(job, "rule", None)
    if not isinstance(rule, str):  # not a Snakemake script
        return
    if rule not in HUB_RULES:
        os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    if "attempt" in job.resources.keys():
        from crossprobe.job import attempts_record, record_attempt

        record_attempt(attempts_record(job.log[0]), int(job.resources["attempt"]))


_as_a_job()
