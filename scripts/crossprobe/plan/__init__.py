"""What an experiment's model jobs will cost, before they are submitted:

    PYTHONPATH=scripts python -m crossprobe.plan --configfile configs/paper.yaml

Snakemake's summary of the DAG says which model jobs there are (`jobs`). Each job's model
task (`crossprobe.contract.model_tasks`) says what it reads, with which settings (its rule's
params), how the job's own code tokenises that, what a token costs in forward passes and what a
batch keeps in memory; the plan never names a rule. Per model task and model it prints the texts
and tokens the jobs run, their FLOPs (padding included), the rows per batch and peak memory at
the widest text and at `max_length`, the hours on named cards at a stated utilisation, and where
the token counts come from:

Each table's lengths come from all its texts, or a seeded sample of `SAMPLE` of them (`texts`):

- `real`: the job's own inputs (after `snakemake download`, or a run) and the model's tokenizer;
- `built`: a split's questions built here as `prepare_questions` builds them (shipped datasets);
- `est.`: texts that do not exist yet: a model's answers are taken to be the gold answers, an
  answer set's rows to be like the shipped questions of its training mixture's datasets (0-shot,
  gold as the answer), and a model whose tokenizer is not here is counted with a stand-in.

FLOPs per position (`counting`): 2 x the non-embedding parameters (the LM head where it is
applied is left out) plus causal attention, 2 x layers x heads x head size x the position's
context, times the task's forward-pass equivalents. Greedy decoding reads every weight once per
new token of a batch; a new token costs the larger of its FLOPs and that read at the card's
bandwidth. New tokens are counted at their maximum (answers stop at their first line). Hours on
named cards come from `pricing`, the tables from `report`, a profile's resources from `profile`,
the command line from `__main__`.
"""
