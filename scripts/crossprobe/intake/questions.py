"""Question intake, one door: every dataset a config can name (`Catalogue`: the shipped ones and
the config's own) and one split's question table with its prompts (`prepare_questions`, the
`prepare_questions` stage).

Splits are carved in their fixed order (see `crossprobe.contract.splits`): each split takes the
first `size` questions of a seeded shuffle of its datasets that no earlier split took, then its
few-shot examples (the next unused questions of the same dataset and subject, or the dataset's own
shot pool, e.g. MMLU's dev split), which each question sees in an order of its own. So a split
depends only on itself and the earlier splits that share its datasets: a new test set leaves the
training questions, and everything trained on them, alone.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from crossprobe.contract.prompts import build_prompt, shot_text
from crossprobe.contract.splits import SPLITS
from crossprobe.intake.external import question_records, read_table
from crossprobe.intake.shipped import DATASETS, dataset_size, load_shipped


class Catalogue:
    """Every dataset a config can name: the shipped ones (DATASETS) and the config's own
    `data.datasets` (`specs`), each loaded once."""

    def __init__(self, specs: dict | None = None, seed: int = 0, root: Path | None = None):
        self.specs, self.seed, self.root, self.loaded = specs or {}, seed, root, {}

    def key(self, name: str) -> str:
        return f"data.datasets.{name}"

    def known(self, name: str) -> bool:
        return name in DATASETS or name in self.specs

    def has_options(self, name: str) -> bool:
        """Whether `name`'s questions are multiple choice."""
        if name in self.specs:
            return bool(self.specs[name]["columns"].get("choices"))
        return DATASETS[name].has_options

    def framing(self, name: str) -> tuple[str | None, str | None]:
        """The lines before and after `name`'s few-shot examples."""
        if name in self.specs:
            return self.specs[name].get("header"), self.specs[name].get("closing")
        return DATASETS[name].header, DATASETS[name].closing

    def load(self, name: str, split: str | None = None) -> pd.DataFrame:
        if (name, split) not in self.loaded:
            if name in self.specs:
                spec = self.specs[name]
                frame = read_table(spec, self.key(name))
                self.loaded[name, split] = question_records(frame, spec, name, self.key(name))
            else:
                self.loaded[name, split] = load_shipped(name, split, self.root, self.seed)
        return self.loaded[name, split]

    def shot_pool(self, name: str) -> pd.DataFrame | None:
        """Where `name`'s few-shot examples come from, if not from its own unused questions."""
        if name in self.specs:
            shots = self.specs[name].get("shots")
            return self.load(shots) if shots else None
        split = DATASETS[name].shot_split
        return self.load(name, split) if split else None

    def size(self, name: str) -> int | None:
        """Questions in `name` (None for a hub dataset: unknown until a job loads it)."""
        if name not in self.specs:
            return dataset_size(name)
        spec = self.specs[name]
        if "hub" in spec:
            return None
        return len(read_table(spec, self.key(name)))


def shot_pools(chosen: pd.DataFrame, unused: pd.DataFrame, k: int, catalogue: Catalogue) -> dict:
    """{(dataset, subject): the solved examples its questions draw k shots from} for the groups
    of `chosen`: the dataset's own shot pool when it has one (matched by subject; e.g. MMLU's dev
    split), else the first k unused questions of the group."""
    pools = {}
    for dataset, subject in chosen[["dataset", "subject"]].drop_duplicates().itertuples(False):
        pool = catalogue.shot_pool(dataset)
        group = (
            unused[(unused["dataset"] == dataset) & (unused["subject"] == subject)].head(k)
            if pool is None
            else pool[pool["subject"] == subject]
        )
        if len(group) < k:
            raise ValueError(
                f"num_fewshot is {k}, but only {len(group)} unused questions of "
                f"{dataset}/{subject} remain for examples"
            )
        pools[(dataset, subject)] = group
    return pools


def shots_of(row, pool: pd.DataFrame, k: int, seed: int, answer_format: str) -> list[str]:
    """The k solved examples of one question, in an order of its own: a permutation of its pool
    seeded by the seed plus the question's row in its dataset and subject, as the paper's code
    draws MMLU's shots."""
    if not k:
        return []
    picks = np.random.default_rng(seed + int(row["row"])).permutation(len(pool))[:k]
    return [shot_text(pool.iloc[i], answer_format) for i in picks]


def carve(params: dict, catalogue: Catalogue):
    """Yield (split, questions, shot pools) for the linked splits of `params`, in split order;
    each question carries its `row` in its dataset and subject."""
    taken: set = set()
    for split in SPLITS:
        if split not in params["splits"]:
            continue
        spec = params["splits"][split]
        pool = pd.concat([catalogue.load(n) for n in spec["datasets"]], ignore_index=True)
        pool["row"] = pool.groupby(["dataset", "subject"], sort=False).cumcount()
        order = pool.sample(frac=1.0, random_state=params["seed"]).reset_index(drop=True)
        free = order[~order["question_id"].isin(taken)]
        if len(free) < spec["size"]:
            raise ValueError(
                f"data.splits.{split}.size is {spec['size']}, but only {len(free)} questions of "
                f"{spec['datasets']} are left after the earlier splits"
            )
        chosen = free.head(spec["size"]).reset_index(drop=True)
        taken |= set(chosen["question_id"])
        pools = {}
        if spec["num_fewshot"]:
            pools = shot_pools(chosen, free.iloc[spec["size"] :], spec["num_fewshot"], catalogue)
            taken |= {q for group in pools.values() for q in group["question_id"]}
        yield split, chosen, pools


def prepare_questions(params: dict, split: str, root=None) -> pd.DataFrame:
    """The question table of `split` (params: `crossprobe.contract.splits.split_params`), with each
    question's prompt and the solved examples in it (`shots`, in their order)."""
    catalogue = Catalogue(params.get("datasets"), params["seed"], root)
    fmt = params["answer_format"]
    for name, chosen, pools in carve(params, catalogue):
        if name != split:
            continue
        k = params["splits"][split]["num_fewshot"]
        shots = [
            shots_of(row, pools[(row["dataset"], row["subject"])], k, params["shot_seed"], fmt)
            if k
            else []
            for _, row in chosen.iterrows()
        ]
        prompts = [
            build_prompt(row, s, fmt, *catalogue.framing(row["dataset"]))
            for (_, row), s in zip(chosen.iterrows(), shots, strict=True)
        ]
        return chosen.drop(columns="row").assign(prompt=prompts, shots=shots, split=split)
    raise ValueError(f"{split!r} is not among the splits of these params")
