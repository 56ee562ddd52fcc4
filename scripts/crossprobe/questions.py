"""The `prepare_questions` stage: a seeded train / calibration / test split with prompts."""

import pandas as pd

from crossprobe.data import DATASETS, load_dataset, split_questions
from crossprobe.prompts import build_prompt

SPLITS = ("train", "calibration", "test")


def check_data_params(params: dict) -> None:
    """Raise ValueError naming the config key when datasets and answer format do not fit."""
    wanted = "open" if params["answer_format"] == "open" else "mc"
    names = list(params["mixture"]) + ([params["test_dataset"]] if params["test_dataset"] else [])
    for name in names:
        if DATASETS[name].kind != wanted:
            raise ValueError(
                f"data: dataset {name!r} is {DATASETS[name].kind}, but data.answer_format "
                f"{params['answer_format']!r} needs {wanted} datasets"
            )
    if params["test_dataset"] in params["mixture"]:
        raise ValueError(
            f"data.test_dataset {params['test_dataset']!r} is also in data.mixture: "
            "test questions would leak into training"
        )


def shots_by_group(pool: pd.DataFrame, k: int) -> dict:
    """First k questions of each (dataset, subject) group: the few-shot examples."""
    return {key: group.head(k) for key, group in pool.groupby(["dataset", "subject"], sort=False)}


def prepare_questions(params: dict, root=None) -> dict[str, pd.DataFrame]:
    check_data_params(params)
    seed, k, fmt = params["seed"], params["num_fewshot"], params["answer_format"]
    pool = pd.concat([load_dataset(n, root=root, seed=seed) for n in params["mixture"]])
    test_pool = (
        load_dataset(params["test_dataset"], root=root, seed=seed)
        if params["test_dataset"]
        else None
    )
    splits, rest = split_questions(pool, params["sizes"], seed, test_pool)
    shot_pool = rest
    if params["test_dataset"] == "mmlu":  # MMLU's own 5-shot examples come from its dev split
        shot_pool = pd.concat([rest, load_dataset("mmlu", split="dev", root=root, seed=seed)])
    shots = shots_by_group(shot_pool, k) if k else {}
    empty = pool.head(0)
    for name, frame in splits.items():
        prompts = []
        for _, row in frame.iterrows():
            row_shots = shots.get((row["dataset"], row["subject"]), empty)
            if len(row_shots) < k:
                raise ValueError(
                    f"data.num_fewshot is {k}, but only {len(row_shots)} unused questions of "
                    f"{row['dataset']}/{row['subject']} remain for examples"
                )
            prompts.append(build_prompt(row, row_shots, fmt))
        splits[name] = frame.assign(prompt=prompts, split=name)
    return splits
