"""What an experiment's model jobs will cost, before they are submitted:

    PYTHONPATH=scripts python -m crossprobe.plan --configfile configs/paper.yaml

Snakemake's own summary of the DAG says which model jobs there are; per model stage and model,
the plan prints the texts and tokens they process, their FLOPs, the peak memory of a batch at
the budget the jobs will size their batches by (`crossprobe.models.memory`), the hours at a
stated sustained rate, and the padding efficiency (real tokens / processed positions) of fixed
batches in data order ("before") against the length-grouped, memory-sized batches the jobs form
("after").

Token lengths are real where the texts and the model's tokenizer exist already: the questions,
imported answer sets and prepared models after `snakemake download`, everyone's answers after a
run; elsewhere each text is counted at its stage's `max_length` (an upper bound, marked "<=")
and padding is not known.
A model's shape comes from its prepared checkpoint's config, or `--model-config NAME=config.json`.
"""

import argparse
import json
import re
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
from crossprobe.contract.config import load_schema, lora_params, validate_config
from crossprobe.contract.formats import answer_format
from crossprobe.lora.tuning import length_grouped_batches, query_sequences, training_steps
from crossprobe.models.lm import GPU_SHARE, in_batches
from crossprobe.models.memory import Budget, batch_bytes, shape_of, weights_bytes

REPO = Path(__file__).resolve().parents[2]
GIB = 2**30
CPU_PROCESS_BYTES = 1 * GIB  # torch, tokenizers and Python beside the weights (CPU jobs)
# the model jobs, and the result path each writes (its wildcards name the job)
JOB_PATHS = {
    "generate_answers": paths.ANSWERS,
    "judge_answers": paths.JUDGED,
    "cache_activations": paths.READS,
    "finetune_lora": paths.ADAPTER,
    "score_lora": paths.LORA_SCORES,
}
RULES = list(JOB_PATHS)
# what each answering function keeps in memory (see crossprobe.answers.answering)
ANSWERING_STAGES = {
    "answer_cloze": "cloze",
    "answer_letter": "next_token",
    "answer_open": "generate",
}
# forward passes per token of a stage: LoRA training adds the backward pass through the
# activations (frozen weights need no weight gradients), the JS regulariser a tuned pass with
# its backward and a frozen one
FORWARDS = {"train": 3, "regulariser": 4}


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
        if len(parts) > 2 and parts[2] in JOB_PATHS:
            found = re.fullmatch(pattern(JOB_PATHS[parts[2]]), parts[0])
            if found:
                jobs.append((parts[2], found.groupdict()))
    return jobs


def pattern(template: str) -> str:
    escaped = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    return re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", escaped)


@dataclass
class Texts:
    """The token lengths of a job's texts, or their count with a bound on each."""

    count: int
    lengths: list[int] | None = None
    bound: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(self.lengths) if self.lengths is not None else self.count * self.bound

    @property
    def widest(self) -> int:
        return max(self.lengths, default=1) if self.lengths is not None else self.bound


class Planner:
    def __init__(
        self, config, workdir: Path, jobs, model_configs: dict, gpu_mem_gb, answer_set_rows
    ):
        self.config, self.workdir, self.gpu_mem_gb = config, workdir, gpu_mem_gb
        self.model_configs, self.answer_set_rows = model_configs, answer_set_rows
        self.generated = {(wc["model"], wc["split"]) for r, wc in jobs if r == "generate_answers"}
        self.shapes, self.tokenizers = {}, {}

    def file(self, template: str, **wildcards) -> Path:
        return self.workdir / template.format(experiment=self.config["experiment"], **wildcards)

    def prepared(self, model: str) -> str | None:
        record = self.file(paths.MODEL, model=model)
        return json.loads(record.read_text())["path"] if record.is_file() else None

    def shape(self, model: str):
        if model not in self.shapes:
            if model in self.model_configs:
                raw = json.loads(Path(self.model_configs[model]).read_text())
                config = AutoConfig.for_model(**raw)
            elif self.prepared(model):
                config = AutoConfig.from_pretrained(self.prepared(model))
            else:
                record = self.file(paths.MODEL, model=model)
                raise SystemExit(
                    f"model {model!r}: no prepared checkpoint ({record} is not there); pass "
                    f"--model-config {model}=path/to/config.json (its config.json from the hub)"
                )
            self.shapes[model] = shape_of(config)
        return self.shapes[model]

    def tokenizer(self, model: str):
        if model not in self.tokenizers:
            where = self.prepared(model)
            self.tokenizers[model] = AutoTokenizer.from_pretrained(where) if where else None
        return self.tokenizers[model]

    def dtype(self, model: str) -> str:
        """The model's number format; `auto` as on a GPU, or on a CPU float32, the larger of its
        two choices (the same float32 activations as bfloat16-linear, heavier weights)."""
        chosen = self.config["models"][model]["dtype"]
        if chosen != "auto":
            return chosen
        return "bfloat16" if self.config["resources"]["gpu"] else "float32"

    def budget(self, model: str) -> Budget:
        shape, dtype = self.shape(model), self.dtype(model)
        if self.config["resources"]["gpu"]:
            total = self.config["resources"]["gpu_mem_mb"] * 2**20 or self.gpu_mem_gb * 10**9
            free = int(GPU_SHARE * total) - weights_bytes(shape, dtype)
        else:
            total = self.config["resources"]["model_mem_mb"] * 2**20
            free = total - weights_bytes(shape, dtype) - CPU_PROCESS_BYTES
        return Budget(shape, dtype, max(free, 0))

    def split_size(self, split: str) -> int:
        return self.config["data"]["splits"][split]["size"]

    def rows(self, source: str, split: str) -> int:
        """Answers in a column's split: the split's size where a model answers it, else an
        answer set's (--answer-set-rows SPLIT=N, 0 when not given)."""
        if (source, split) in self.generated:
            return self.split_size(split)
        return self.answer_set_rows.get(split, 0)

    def query_texts(self, model: str, source: str, split: str, max_length: int) -> Texts:
        """The query texts (answered prompt + the query) of a column's split, as `model`
        tokenises them; counted at `max_length` when the answers or the tokenizer are not there."""
        graded = self.workdir / grid.answers_path(self.config, source, split)
        tokenizer = self.tokenizer(model)
        if graded.is_file() and tokenizer is not None:
            table = pd.read_parquet(graded, columns=["prompt", "answer"])
            seqs, _ = query_sequences(tokenizer, table["prompt"], table["answer"], max_length)
            return Texts(len(seqs), [len(s) for s in seqs])
        return Texts(self.rows(source, split), None, max_length)

    def texts(self, rule: str, wc: dict) -> tuple[str, str, Texts]:
        """(stage, model, texts) of one model job."""
        if rule == "generate_answers":
            params = self.config["answers"]
            split = self.config["data"]["splits"][wc["split"]]
            fmt = answer_format(self.config["data"]["answer_format"])
            new = split.get("max_new_tokens") or params["max_new_tokens"]
            stage = ANSWERING_STAGES[fmt.answerer]
            questions, tokenizer = (
                self.file(paths.QUESTIONS, split=wc["split"]),
                self.tokenizer(wc["model"]),
            )
            # a cloze row holds the prompt and then its options (without the questions: five
            # options of eight tokens, an assumption); the other stages' rows, the prompt
            cloze, option_tokens = stage == "cloze", 5 * 8
            texts = Texts(
                self.split_size(wc["split"]), None, params["max_length"] + cloze * option_tokens
            )
            if questions.is_file() and tokenizer is not None:
                table = pd.read_parquet(questions, columns=["prompt", "choices"])
                after = [
                    sum(len(tokenizer(f" {c}")["input_ids"]) for c in row) if cloze else 0
                    for row in table["choices"]
                ]
                option_tokens = max(after, default=0)
                texts = Texts(
                    len(after),
                    [
                        min(len(tokenizer(p)["input_ids"]), params["max_length"]) + n
                        for p, n in zip(table["prompt"], after, strict=True)
                    ],
                )
            texts.extra = {
                "generate": {"new_tokens": new},
                "cloze": {"option_tokens": option_tokens},
            }.get(stage, {})
            return stage, wc["model"], texts
        if rule == "judge_answers":
            grading = self.config["grading"]
            count = sum(self.split_size(s) for m, s in self.generated if m == wc["source"])
            if grading.get("agreement"):  # the answer set's labels, graded again
                count += self.rows(wc["source"], grading["agreement"]["split"])
            texts = Texts(count, None, self.config["answers"]["max_length"])
            texts.extra = {"new_tokens": self.config["grading"]["max_new_tokens"]}
            return "generate", grading["judge"], texts
        if rule == "cache_activations":
            limit = self.config["activations"]["max_length"]
            return (
                "reads",
                wc["model"],
                self.query_texts(wc["model"], wc["source"], wc["split"], limit),
            )
        params = lora_params(self.config, wc["model"])
        if rule == "score_lora":
            return (
                "query",
                wc["model"],
                self.query_texts(wc["model"], wc["source"], wc["split"], params["max_length"]),
            )
        source = wc["train_set"]
        sources = list(self.config["models"]) if source == "all" else [source]
        pool = [self.query_texts(wc["model"], s, "train", params["max_length"]) for s in sources]
        examples = sum(t.count for t in pool)
        per_step = params["batch_size"] * params["grad_accum"]
        texts = Texts(training_steps(params, examples) * per_step, None, params["max_length"])
        if all(t.lengths is not None for t in pool):
            texts.lengths = [n for t in pool for n in t.lengths]  # sampled by the batches
        texts.extra = {"js_tokens": 16 if params["js_weight"] > 0 else 0}
        return "train", wc["model"], texts

    def padding(self, stage: str, model: str, texts: Texts, most: int, steps: int) -> tuple:
        """(before, after) padding efficiency, or (None, None) without real lengths."""
        if texts.lengths is None or not texts.lengths:
            return None, None
        lengths = texts.lengths
        if stage == "train":
            generator = torch.Generator().manual_seed(0)
            order = torch.randperm(len(lengths), generator=generator).tolist()
            plain = [order[i : i + most] for i in range(0, len(order), most)]
            grouped = length_grouped_batches(lengths, most, generator)
            after = [next(grouped) for _ in range(max(steps, 1))]
            return efficiency(lengths, plain), efficiency(lengths, after)
        plain = [list(range(i, min(i + most, len(lengths)))) for i in range(0, len(lengths), most)]
        formed = []
        in_batches(lengths, most, formed.append, self.budget(model), stage, **texts.extra)
        return efficiency(lengths, plain), efficiency(lengths, formed)

    def most(self, rule: str, model: str) -> int:
        if rule == "cache_activations":
            return self.config["activations"]["batch_size"]
        if rule == "score_lora":
            return lora_params(self.config, model)["score_batch_size"]
        if rule == "finetune_lora":
            return lora_params(self.config, model)["batch_size"]
        if rule == "judge_answers":
            return self.config["grading"]["batch_size"]
        return self.config["answers"]["batch_size"]


def efficiency(lengths, batches) -> float:
    real = sum(lengths[i] for b in batches for i in b)
    processed = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return real / processed


def plan(
    config: dict, workdir: Path, jobs, model_configs, tflops: float, gpu_mem_gb, answer_set_rows
):
    """One row per (model stage, model): what its jobs process and cost."""
    planner = Planner(config, workdir, jobs, model_configs, gpu_mem_gb, answer_set_rows)
    gpu = bool(config["resources"]["gpu"])
    groups = {}
    for rule, wc in jobs:
        stage, model, texts = planner.texts(rule, wc)
        shape, dtype, most = planner.shape(model), planner.dtype(model), planner.most(rule, model)
        budget = planner.budget(model)
        rows_fit = budget.rows(stage, texts.widest, most, **texts.extra)
        peak = weights_bytes(shape, dtype) + batch_bytes(
            shape, stage, rows_fit, texts.widest, dtype, **texts.extra
        )
        tokens = texts.tokens
        if stage == "train" and texts.lengths is not None:
            tokens = int(texts.count * np.mean(texts.lengths))
        forwards = FORWARDS["train"] if stage == "train" else 1
        if stage == "train" and texts.extra["js_tokens"]:
            forwards += FORWARDS["regulariser"]
        new = texts.extra.get("new_tokens", 0) * texts.count
        flops = 2 * shape.params * (forwards * tokens + new)
        steps = texts.count // most if stage == "train" else 0
        before, after = planner.padding(stage, model, texts, most, steps)
        group = groups.setdefault(
            (rule, model),
            {"jobs": 0, "texts": 0, "tokens": 0, "flops": 0, "peak": 0, "bound": False, "pad": []},
        )
        group["jobs"] += 1
        group["texts"] += texts.count
        group["tokens"] += tokens + new
        group["flops"] += flops
        group["peak"] = max(group["peak"], peak)
        group["rows"] = min(group.get("rows", most), rows_fit)
        group["bound"] |= texts.lengths is None
        group["pad"].append((before, after, texts.tokens))
    return [
        {
            "rule": rule,
            "model": model,
            "jobs": g["jobs"],
            "texts": g["texts"],
            "tokens": ("<= " if g["bound"] else "") + f"{g['tokens']:,}",
            "PFLOP": f"{g['flops'] / 1e15:.3g}",
            "rows per batch": g["rows"],
            "peak GiB": round(g["peak"] / GIB, 1),
            "GPU-hours" if gpu else "hours": f"{g['flops'] / (tflops * 1e12) / 3600:.3g}",
            "padding before -> after": padding_text(g["pad"]),
        }
        for (rule, model), g in sorted(
            groups.items(), key=lambda kv: (RULES.index(kv[0][0]), kv[0][1])
        )
    ]


def padding_text(pads) -> str:
    known = [(b, a, w) for b, a, w in pads if b is not None]
    if not known or len(known) < len(pads):
        return "n/a"
    weight = sum(w for _, _, w in known)
    before = sum(b * w for b, _, w in known) / weight
    after = sum(a * w for _, a, w in known) / weight
    return f"{100 * before:.1f}% -> {100 * after:.1f}%"


def markdown(rows: list[dict]) -> str:
    heads = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(str(r[h]) for h in heads) + " |" for r in rows]
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
        "--tflops", type=float, default=100.0, help="sustained TFLOP/s the hours assume"
    )
    parser.add_argument(
        "--gpu-mem-gb",
        type=float,
        default=40.0,
        help="a card's memory, where resources.gpu_mem_mb is 0 (the card's own)",
    )
    parser.add_argument(
        "--answer-set-rows",
        action="append",
        default=[],
        metavar="SPLIT=N",
        help="rows of an answer set's split where the set is not imported yet (else 0)",
    )
    args = parser.parse_args(argv)
    raw = yaml.safe_load(args.configfile.read_text())
    config = validate_config(raw, load_schema(REPO / "schemas/config.schema.yaml"))
    model_configs = dict(item.split("=", 1) for item in args.model_config)
    set_rows = {k: int(v) for k, v in (item.split("=", 1) for item in args.answer_set_rows)}
    jobs = model_jobs(args.configfile.resolve(), args.directory)
    rows = plan(config, args.directory, jobs, model_configs, args.tflops, args.gpu_mem_gb, set_rows)
    device = "GPU" if config["resources"]["gpu"] else "CPU"
    print(
        f"# {config['experiment']}: {len(jobs)} model jobs; hours at {args.tflops:g} TFLOP/s "
        f"sustained; batches sized for the {device} memory of each job"
    )
    print(markdown(rows))
    print(
        "\n<= : texts counted at their stage's max_length (no texts or tokenizer yet); padding "
        "n/a there. Hours are FLOPs at the stated rate: token-by-token decoding in "
        "generate_answers and judge_answers is bound by memory bandwidth and takes longer."
    )


if __name__ == "__main__":
    main()
