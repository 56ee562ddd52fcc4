"""The `prepare_questions` stage: one split's question table with its prompts.

Splits are carved in their fixed order (see `crossprobe.splits`): each split takes the first
`size` questions of a seeded shuffle of its datasets that no earlier split took, then its few-shot
examples (the next unused questions of the same dataset and subject, or the dataset's own shot
pool, e.g. MMLU's dev split). So a split depends only on itself and the earlier splits that share
its datasets: a new test set leaves the training questions, and everything trained on them, alone.
"""

import pandas as pd

from crossprobe.data import DATASETS, Catalogue
from crossprobe.prompts import build_prompt
from crossprobe.splits import SPLITS


def check_data_params(data: dict) -> None:
    """Raise ValueError naming the config key when a split names an unknown dataset, or one
    that the answer format cannot ask (open answers can ask any: multiple-choice questions are
    then asked without their options, as in MMLU-OE)."""
    catalogue = Catalogue(data.get("datasets"))
    for name in data.get("datasets", {}):
        if name in DATASETS:
            raise ValueError(
                f"data.datasets.{name}: a shipped dataset has this name (expected another id)"
            )
    for split in SPLITS:
        for name in data["splits"][split]["datasets"]:
            if not catalogue.known(name):
                raise ValueError(
                    f"data.splits.{split}.datasets: {name!r} is neither a shipped dataset "
                    f"({', '.join(DATASETS)}) nor an id of data.datasets"
                )
            if data["answer_format"] != "open" and catalogue.kind(name) != "mc":
                raise ValueError(
                    f"data.splits.{split}.datasets: {name!r} has no options, but "
                    f"data.answer_format {data['answer_format']!r} needs multiple-choice datasets"
                )


def pick_shots(chosen: pd.DataFrame, unused: pd.DataFrame, k: int, catalogue: Catalogue) -> dict:
    """{(dataset, subject): k solved examples} for the groups of `chosen`: from the dataset's own
    shot pool when it has one (matched by subject), else the first unused questions of the group."""
    shots = {}
    for dataset, subject in chosen[["dataset", "subject"]].drop_duplicates().itertuples(False):
        pool = catalogue.shot_pool(dataset)
        if pool is None:
            pool = unused[unused["dataset"] == dataset]
        group = pool[pool["subject"] == subject].head(k)
        if len(group) < k:
            raise ValueError(
                f"num_fewshot is {k}, but only {len(group)} unused questions of "
                f"{dataset}/{subject} remain for examples"
            )
        shots[(dataset, subject)] = group
    return shots


def carve(params: dict, catalogue: Catalogue):
    """Yield (split, questions, shots) for the linked splits of `params`, in split order."""
    taken: set = set()
    for split in SPLITS:
        if split not in params["splits"]:
            continue
        spec = params["splits"][split]
        pool = pd.concat([catalogue.load(n) for n in spec["datasets"]], ignore_index=True)
        order = pool.sample(frac=1.0, random_state=params["seed"]).reset_index(drop=True)
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
            shots = pick_shots(chosen, free.iloc[spec["size"] :], spec["num_fewshot"], catalogue)
            taken |= {q for group in shots.values() for q in group["question_id"]}
        yield split, chosen, shots


def prepare_questions(params: dict, split: str, root=None) -> pd.DataFrame:
    """The question table of `split` (params: `crossprobe.splits.split_params`)."""
    catalogue = Catalogue(params.get("datasets"), params["seed"], root)
    for name, chosen, shots in carve(params, catalogue):
        if name == split:
            empty = chosen.head(0)
            prompts = [
                build_prompt(
                    row,
                    shots.get((row["dataset"], row["subject"]), empty),
                    params["answer_format"],
                    catalogue.header(row["dataset"]),
                )
                for _, row in chosen.iterrows()
            ]
            return chosen.assign(prompt=prompts, split=split)
    raise ValueError(f"{split!r} is not among the splits of these params")
