"""The `prepare_questions` stage: one split's question table with its prompts.

Splits are carved in their fixed order (see `crossprobe.splits`): each split takes the first
`size` questions of a seeded shuffle of its datasets that no earlier split took, then its few-shot
examples (the next unused questions of the same dataset and subject, or the dataset's own shot
split, e.g. MMLU's dev split). So a split depends only on itself and the earlier splits that share
its datasets: a new test set leaves the training questions, and everything trained on them, alone.
"""

import pandas as pd

from crossprobe.data import DATASETS, load_dataset
from crossprobe.prompts import build_prompt
from crossprobe.splits import SPLITS


def check_data_params(data: dict) -> None:
    """Raise ValueError naming the config key when datasets and answer format do not fit."""
    wanted = "open" if data["answer_format"] == "open" else "mc"
    for split in SPLITS:
        for name in data["splits"][split]["datasets"]:
            if DATASETS[name].kind != wanted:
                raise ValueError(
                    f"data.splits.{split}.datasets: {name!r} is {DATASETS[name].kind}, but "
                    f"data.answer_format {data['answer_format']!r} needs {wanted} datasets"
                )


class Pools:
    """Each dataset loaded once; a split's pool is its datasets in the listed order."""

    def __init__(self, seed: int, root=None):
        self.seed, self.root, self.loaded = seed, root, {}

    def dataset(self, name: str, split: str | None = None) -> pd.DataFrame:
        key = (name, split)
        if key not in self.loaded:
            self.loaded[key] = load_dataset(name, split=split, root=self.root, seed=self.seed)
        return self.loaded[key]

    def shuffled(self, names) -> pd.DataFrame:
        pool = pd.concat([self.dataset(n) for n in names], ignore_index=True)
        return pool.sample(frac=1.0, random_state=self.seed).reset_index(drop=True)


def pick_shots(chosen: pd.DataFrame, unused: pd.DataFrame, k: int, pools: Pools) -> dict:
    """{(dataset, subject): k solved examples} for the groups of `chosen`: from the dataset's own
    shot split when it has one, else the first unused questions of the group."""
    shots = {}
    for dataset, subject in chosen[["dataset", "subject"]].drop_duplicates().itertuples(False):
        shot_split = DATASETS[dataset].shot_split
        source = pools.dataset(dataset, shot_split) if shot_split else unused
        group = source[(source["dataset"] == dataset) & (source["subject"] == subject)].head(k)
        if len(group) < k:
            raise ValueError(
                f"num_fewshot is {k}, but only {len(group)} unused questions of "
                f"{dataset}/{subject} remain for examples"
            )
        shots[(dataset, subject)] = group
    return shots


def carve(params: dict, pools: Pools):
    """Yield (split, questions, shots) for the linked splits of `params`, in split order."""
    taken: set = set()
    for split in SPLITS:
        if split not in params["splits"]:
            continue
        spec = params["splits"][split]
        order = pools.shuffled(spec["datasets"])
        free = order[~order["question_id"].isin(taken)]
        if len(free) < spec["size"]:
            raise ValueError(
                f"data.splits.{split}.size is {spec['size']}, but only {len(free)} questions of "
                f"{spec['datasets']} are left after the earlier splits"
            )
        chosen = free.head(spec["size"]).reset_index(drop=True)
        taken |= set(chosen["question_id"])
        shots = {}
        if spec["num_fewshot"]:
            shots = pick_shots(chosen, free.iloc[spec["size"] :], spec["num_fewshot"], pools)
            taken |= {q for group in shots.values() for q in group["question_id"]}
        yield split, chosen, shots


def prepare_questions(params: dict, split: str, root=None) -> pd.DataFrame:
    """The question table of `split` (params: `crossprobe.splits.split_params`)."""
    pools = Pools(params["seed"], root)
    for name, chosen, shots in carve(params, pools):
        if name == split:
            empty = chosen.head(0)
            prompts = [
                build_prompt(
                    row, shots.get((row["dataset"], row["subject"]), empty), params["answer_format"]
                )
                for _, row in chosen.iterrows()
            ]
            return chosen.assign(prompt=prompts, split=split)
    raise ValueError(f"{split!r} is not among the splits of these params")
