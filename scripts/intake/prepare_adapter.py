"""Snakemake adapter: an adapter trained elsewhere (models.<id>.lora.adapter), checked against
the estimator's base model and written where the estimator's adapter trained on its own answers
would be."""

import json
import logging
from pathlib import Path

from crossprobe.intake.adapters import prepare_adapter
from crossprobe.job import finish, start

started = start(snakemake)
params, model = snakemake.params, snakemake.wildcards.model
record = json.loads(Path(snakemake.input.model).read_text())
released = prepare_adapter(
    params.adapter,
    params.weights,
    record["path"],
    Path(snakemake.output.adapter).parent,
    f"models.{model}.lora.adapter",
    f"models.{model}.weights",
)
released["stands_in_for"] = (
    f"{model}'s LoRA + Prompt adapter trained on {model}'s own answers: the cell where {model} "
    "judges its own answers, and only that one"
)
logging.log(
    logging.INFO if released["base_compared"] else logging.WARNING,
    "base model: %s",
    released["base_check"],
)
for name, table in released["tables_left_out"].items():
    logging.log(
        logging.INFO if table["same_as_base"] else logging.WARNING,
        "left out %s (%d rows of %s; the base's own rows: %s)",
        name,
        table["rows"],
        table["dtype"],
        table["same_as_base"],
    )
finish(
    snakemake, {"adapter": params.adapter, "weights": params.weights}, started, released=released
)
