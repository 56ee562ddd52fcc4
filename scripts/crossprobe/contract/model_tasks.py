"""The model tasks: every kind of job that runs a language model, declared once.

A model task says which rule runs it and which result path names its jobs, whose model runs, the
settings its job receives (the rule's `settings` params: the plan reads the same), what a batch of
it keeps in memory (its `Footprint`, counted by `crossprobe.models.memory`), which setting caps
its rows per batch, the function that does its work and the one that says, with the job's own
tokenisation, how long its texts are (`TextLengths`), and what a token of each of those texts
costs in forward-pass equivalents. The rules take their output and settings from here, the jobs
their footprint, and the plan (`crossprobe.plan`) walks the tasks of a DAG's jobs without naming a
rule: a new model task or answer format is a new entry. Torch-free: the DAG reads it.

(A workflow *stage* is one of the packages intake ... figures; a model task belongs to one.)
"""

import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from crossprobe.contract import formats, paths
from crossprobe.contract.config import lora_params
from crossprobe.contract.grid import judged_splits, training_sets
from crossprobe.contract.splits import TRAIN


class Footprint(StrEnum):
    """What a batch keeps alive at its peak (see `crossprobe.models.memory.row_bytes`)."""

    GENERATE = "generate"  # greedy decoding: the key/value cache of prompt and new tokens
    CLOZE = "cloze"  # a question's prompt and all its options in one masked row
    NEXT_TOKEN = "next_token"  # one position's logits over the vocabulary
    READS = "reads"  # every layer's hidden states
    QUERY = "query"  # two logits at the last position
    TRAIN = "train"  # what backpropagation saves (and the JS regulariser's logits)


def without_seeds(settings: dict) -> dict:
    """Training settings as one training job sees them: its own seed is a wildcard, so the list
    of seeds stays out (adding a seed then adds jobs and reruns none)."""
    return {k: v for k, v in settings.items() if k != "seeds"}


def answering_params(config: dict, wildcards) -> dict:
    """How models answer the job's split: the answers settings, the format, and the split's own
    max_new_tokens if it has one (the paper: 30 for training answers, 100 for MMLU)."""
    own = config["data"]["splits"][wildcards["split"]].get("max_new_tokens")
    return {
        **config["answers"],
        "answer_format": config["data"]["answer_format"],
        "max_new_tokens": own or config["answers"]["max_new_tokens"],
    }


def judging_params(config: dict, wildcards=None) -> dict:
    return config["grading"]


def reads_params(config: dict, wildcards=None) -> dict:
    return config["activations"]


def lora_training_params(config: dict, wildcards) -> dict:
    # where an adapter trained elsewhere comes from is no training setting (an estimator with
    # one trains none): it stays out, so that training jobs do not rerun for it
    settings = lora_params(config, wildcards["model"])
    return without_seeds({k: v for k, v in settings.items() if k != "adapter"})


SCORING_KEYS = ("max_length", "score_batch_size")  # what of the LoRA settings scoring reads


def lora_scoring_params(config: dict, wildcards) -> dict:
    params = lora_params(config, wildcards["model"])
    return {k: params[k] for k in SCORING_KEYS}


def training_steps(params: dict, examples: int) -> int:
    """The step budget: `epochs` passes over the training answers when set, else `max_steps`."""
    if params.get("epochs"):
        per_step = params["batch_size"] * params["grad_accum"]
        return max(1, math.ceil(params["epochs"] * examples / per_step))
    return params["max_steps"]


def drawn_for_training(params: dict, examples: int) -> int:
    """Training texts a LoRA run processes: every step's batches, drawn from `examples`."""
    return training_steps(params, examples) * params["batch_size"] * params["grad_accum"]


AUTO = "auto"  # lora.gradient_checkpointing: recompute only the batches that would not fit


def always_recomputes(params: dict) -> bool:
    """Whether every LoRA training batch recomputes each layer's forward pass in its backward
    pass (`gradient_checkpointing: true`; with `auto` a batch does where it must, see
    `crossprobe.models.memory.Budget.recomputes`)."""
    return params.get("gradient_checkpointing") is True


def lora_training_passes(params: dict, recompute: bool | None = None) -> dict[str, int]:
    """Forward-pass equivalents per token of LoRA training with frozen base weights: the query
    text's forward and its backward through the activations (no weight gradients: about one
    forward's work), plus a recomputed forward where the batch recomputes its layers (`recompute`,
    else as the settings say); with the JS regulariser, the regularised text's tuned pass the
    same way and its frozen pass."""
    again = int(always_recomputes(params) if recompute is None else recompute)
    return {
        "query": 2 + again,
        "regularised": (3 + again) if params["js_weight"] > 0 else 0,
    }


def _model(config: dict, wildcards) -> str:
    return wildcards["model"]


def _judge(config: dict, wildcards) -> str:
    return config["grading"]["judge"]


def _no_new_tokens(params: dict) -> int:
    return 0


def _all_of_them(params: dict, texts: int) -> int:
    return texts


def _split_questions(config: dict, wildcards) -> list[tuple[None, str]]:
    return [(None, wildcards["split"])]


def _column_split(config: dict, wildcards) -> list[tuple[str, str]]:
    return [(wildcards["source"], wildcards["split"])]


def _training_answers(config: dict, wildcards) -> list[tuple[str, str]]:
    return [(s, TRAIN) for s in training_sets(config, wildcards["train_set"])]


def _judged_answers(config: dict, wildcards) -> list[tuple[str, str]]:
    splits = judged_splits(config, wildcards["source"])
    return [(wildcards["source"], s) for s in splits["generated"] + splits["imported"]]


@dataclass(frozen=True)
class TextLengths:
    """What a model task's `lengths` function says of a table, as the job tokenises it."""

    lengths: dict  # {text kind: token length of each text}
    extra: dict = field(default_factory=dict)  # what a batch keeps besides (row_bytes' extra)
    counted: dict = field(default_factory=dict)  # {what the plan reports: count}


@dataclass(frozen=True)
class ModelTask:
    name: str
    rule: str
    output: str  # the result path template whose wildcards name a job
    footprint: Footprint
    # (config, wildcards) -> the settings its job receives: the rule passes exactly this
    params: Callable[[dict, dict], dict]
    batch_size: str  # the key of params that caps the rows of a batch
    # "module:function" of the work: answering tasks are called as
    # (model, tokenizer, device, questions, format, params, budget)
    work: str
    # "module:function" (tokenizer, table, params) -> TextLengths, as the job tokenises its table
    # (questions, or graded answers with prompt, answer and gold)
    lengths: str
    # (config, wildcards) -> what its texts are made of: (None, split) for a split's
    # questions, (column, split) for a column's answers
    tables: Callable[[dict, dict], list] = _column_split
    # (params, whether the batch recomputes its layers) -> forward-pass equivalents per token of
    # each text kind
    passes: Callable[..., dict[str, int]] = lambda params, recompute=None: {"rows": 1}
    new_tokens: Callable[[dict], int] = _no_new_tokens  # generated per text, each one more pass
    # (params, texts in its tables) -> texts run through the model
    texts_run: Callable[[dict, int], int] = _all_of_them
    model: Callable[[dict, dict], str] = _model


def answering(name: str, footprint: Footprint, answer: str, lengths: str, **more) -> ModelTask:
    """A model task of generate_answers (the answer format names which): its questions answered
    by `crossprobe.answers.answering.<answer>`, counted by its `<lengths>`."""
    module = "crossprobe.answers.answering"
    return ModelTask(
        name,
        rule="generate_answers",
        output=paths.ANSWERS,
        footprint=footprint,
        params=answering_params,
        batch_size="batch_size",
        work=f"{module}:{answer}",
        lengths=f"{module}:{lengths}",
        tables=_split_questions,
        **more,
    )


def _max_new_tokens(params: dict) -> int:
    return params["max_new_tokens"]


MODEL_TASKS = {
    t.name: t
    for t in (
        answering("cloze_answers", Footprint.CLOZE, "answer_cloze", "cloze_lengths"),
        answering("letter_answers", Footprint.NEXT_TOKEN, "answer_letter", "prompt_lengths"),
        answering(
            "open_answers",
            Footprint.GENERATE,
            "answer_open",
            "prompt_lengths",
            new_tokens=_max_new_tokens,
        ),
        ModelTask(
            "judging",
            rule="judge_answers",
            output=paths.JUDGED,
            footprint=Footprint.GENERATE,
            params=judging_params,
            batch_size="batch_size",
            work="crossprobe.answers.judge:judge_answers",
            lengths="crossprobe.answers.judge:judge_lengths",
            tables=_judged_answers,
            new_tokens=_max_new_tokens,
            model=_judge,
        ),
        ModelTask(
            "reads",
            rule="cache_activations",
            output=paths.READS,
            footprint=Footprint.READS,
            params=reads_params,
            batch_size="batch_size",
            work="crossprobe.reads.activations:cache_activations",
            lengths="crossprobe.reads.activations:read_lengths",
        ),
        ModelTask(
            "lora_training",
            rule="finetune_lora",
            output=paths.ADAPTER,
            footprint=Footprint.TRAIN,
            params=lora_training_params,
            batch_size="batch_size",
            work="crossprobe.lora.training:train_on_answers",
            lengths="crossprobe.lora.texts:training_lengths",
            tables=_training_answers,
            passes=lora_training_passes,
            texts_run=drawn_for_training,
        ),
        ModelTask(
            "lora_scoring",
            rule="score_lora",
            output=paths.LORA_SCORES,
            footprint=Footprint.QUERY,
            params=lora_scoring_params,
            batch_size="score_batch_size",
            work="crossprobe.lora.query:query_logodds",
            lengths="crossprobe.lora.texts:query_lengths",
        ),
    )
}
MODEL_RULES = tuple(dict.fromkeys(t.rule for t in MODEL_TASKS.values()))


def task_of(rule: str, answer_format: str | None = None) -> ModelTask:
    """The model task a job of `rule` runs; where several share the rule (answering), the one
    `answer_format` names."""
    tasks = [t for t in MODEL_TASKS.values() if t.rule == rule]
    if not tasks:
        raise ValueError(f"{rule!r} runs no model (model rules: {', '.join(MODEL_RULES)})")
    if len(tasks) > 1:
        return MODEL_TASKS[formats.answer_format(answer_format).task]
    return tasks[0]


def function(reference: str) -> Callable:
    """The function a "module:function" reference names."""
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def job_of(path: str) -> tuple[str, dict] | None:
    """(rule, wildcards) of the model job whose output is `path`, if one is."""
    for task in MODEL_TASKS.values():
        found = re.fullmatch(_pattern(task.output), path)
        if found:
            return task.rule, found.groupdict()
    return None


def _pattern(template: str) -> str:
    escaped = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    return re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", escaped)
