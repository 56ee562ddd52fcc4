"""The `prepare_questions` stage: one split's question table with its prompts.

Splits are carved in their fixed order (see `crossprobe.splits`): each split takes the first
`size` questions of a seeded shuffle of its datasets that no earlier split took, then its few-shot
examples (the next unused questions of the same dataset and subject, or the dataset's own shot
pool, e.g. MMLU's dev split), which each question sees in an order of its own. So a split depends
only on itself and the earlier splits that share its datasets: a new test set leaves the training
questions, and everything trained on them, alone.
"""

import numpy as np
import pandas as pd

from crossprobe.data import DATASETS, Catalogue
from crossprobe.prompts import build_prompt, shot_text
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
    """The question table of `split` (params: `crossprobe.splits.split_params`), with each
    question's prompt and the solved examples in it (`shots`, in their order)."""
    catalogue = Catalogue(params.get("datasets"), params["seed"], root)
    fmt = params["answer_format"]
    for name, chosen, pools in carve(params, catalogue):
        if name != split:
            continue
        k = params["splits"][split]["num_fewshot"]
        shots = [
            shots_of(row, pools[(row["dataset"], row["subject"])], k, params["seed"], fmt)
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
