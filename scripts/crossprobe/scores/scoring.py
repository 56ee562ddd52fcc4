"""The `score_column` stage: one method's raw log-odds for every cell of one column, for every
replicate behind a cell (training seeds and resamples, sweep sizes, recipe variants), on the
scored splits, each replicate
temperature-scaled on its calibration rows, read as the method's scorer kind reads them
(`crossprobe.scores.scorers`). Torch-free."""

import numpy as np
import pandas as pd

from crossprobe.contract.methods import method
from crossprobe.contract.splits import SCORED
from crossprobe.scores.calibration import REPLICATE, raw_scores, scores_table
from crossprobe.scores.scorers import SCORERS, ColumnFiles

COLUMNS = ["method", "model", "trained_on", *REPLICATE]


def score_column(scoring: dict) -> pd.DataFrame:
    """The scores table of one (method, column): every replicate's calibration and test rows
    (scoring: method, source, each cell model's replicates, and the files that
    `crossprobe.dag.score_inputs` lists), read as the method's scorer kind reads them."""
    spec, source = method(scoring["method"]), scoring["source"]
    scorer, column = SCORERS[spec.scorer], ColumnFiles(scoring["files"], source)
    frames = []
    for model, runs in scoring["replicates"].items():
        for replicate in runs:
            n_train, recipe, seed, resample = replicate
            logodds = {s: scorer.raw(spec, column, model, s, replicate) for s in SCORED}
            for split, values in logodds.items():
                bad = int((~np.isfinite(values)).sum())
                if bad:
                    raise ValueError(
                        f"{spec.name}: {bad} of {len(values)} log-odds are not finite for "
                        f"{model} on {source}, split {split} (n_train {n_train}, recipe "
                        f"{recipe}, seed {seed}, resample {resample})"
                    )
            table = scores_table(raw_scores(column.graded, logodds))
            frames.append(
                table.assign(
                    method=spec.name,
                    model=model,
                    trained_on=source,
                    n_train=n_train,
                    recipe=recipe,
                    seed=-1 if seed is None else int(seed),
                    resample=int(resample),
                )
            )
    out = pd.concat(frames, ignore_index=True)
    return out[COLUMNS + [c for c in out.columns if c not in COLUMNS]]
