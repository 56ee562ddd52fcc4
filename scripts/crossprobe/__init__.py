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
them all and are imported only by the workflow, never by a job. Nothing is imported at package
import time, so building the DAG never imports torch.
"""
