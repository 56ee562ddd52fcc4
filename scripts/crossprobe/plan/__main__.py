"""The command line of the plan: python -m crossprobe.plan --help."""

import argparse
from pathlib import Path

import crossprobe.plan
from crossprobe.contract.config import read_config
from crossprobe.plan.counting import cost_rows
from crossprobe.plan.jobs import model_jobs
from crossprobe.plan.pricing import CARDS
from crossprobe.plan.profile import set_resources
from crossprobe.plan.report import markdown
from crossprobe.plan.texts import ORIGINS, Sources

REPO = Path(__file__).resolve().parents[3]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crossprobe.plan", description=crossprobe.plan.__doc__.split("\n\n")[0]
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
    config = read_config(args.configfile)
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
    rows = cost_rows(config, sources, jobs, cards, args.mfu, args.gpu_mem_gb)
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
