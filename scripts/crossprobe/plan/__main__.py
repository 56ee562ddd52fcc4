"""The command line of the plan: python -m crossprobe.plan --help."""

import argparse
from pathlib import Path

import crossprobe.plan
from crossprobe.contract.config import ConfigError, read_config
from crossprobe.plan.counting import cost_rows
from crossprobe.plan.jobs import model_jobs
from crossprobe.plan.pricing import CARDS
from crossprobe.plan.profile import PLACEHOLDERS, TEMPLATE, planned_runtimes, write_profile
from crossprobe.plan.report import markdown
from crossprobe.plan.texts import ORIGINS, PlanInputError, Sources

REPO = Path(__file__).resolve().parents[3]


def arguments() -> argparse.ArgumentParser:
    """The command line: what to plan, with what, and the profile to write."""
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
    profile = parser.add_argument_group(
        "a SLURM profile",
        "written whole from profiles/slurm/config.yaml; <...> stay where not given",
    )
    profile.add_argument(
        "--write-profile",
        type=Path,
        metavar="DIR",
        help="write DIR/config.yaml, each model rule's runtime planned on the first --card",
    )
    profile.add_argument("--partition", help="the partition of the light jobs")
    profile.add_argument("--gpu-partition", help="the partition of the model jobs")
    profile.add_argument("--gpu-type", help='the GPU type as SLURM names it (sinfo -o "%%P %%G")')
    profile.add_argument("--account", help="the SLURM account ('' where there are none)")
    profile.add_argument("--max-runtime", type=int, help="minutes a retry may ask at most")
    profile.add_argument("--max-mem-mb", type=int, help="memory a retry may ask at most")
    return parser


def main(argv=None) -> None:
    parser = arguments()
    args = parser.parse_args(argv)
    try:
        config = read_config(args.configfile)
    except (OSError, ConfigError) as err:
        parser.exit(2, f"--configfile {args.configfile}: {err}\n")
    sources = Sources(
        config,
        args.directory,
        dict(item.split("=", 1) for item in args.model_config),
        dict(item.split("=", 1) for item in args.tokenizer),
        {k: int(v) for k, v in (item.split("=", 1) for item in args.answer_set_rows)},
    )
    cards = args.card or ["a100-40gb", "h100-80gb"]
    jobs = model_jobs(args.configfile.resolve(), args.directory)
    try:
        if args.write_profile:
            print(profile_of(args, config, sources, jobs, cards[0]))
            return
        rows = cost_rows(config, sources, jobs, cards, args.mfu, args.gpu_mem_gb)
    except PlanInputError as err:
        parser.exit(2, f"python -m crossprobe.plan: {err}\n")
    device = f"a {args.gpu_mem_gb:g} GB card" if config["resources"]["gpu"] else "the CPU"
    print(
        f"# {config['experiment']}: {len(jobs)} model jobs; hours at {args.mfu:.0%} of each "
        f"card's bf16 peak; batches sized for {device}"
    )
    print(markdown(rows))
    used = {o for r in rows for o in r["tokens from"].split(", ")}
    print("\n" + "\n".join(f"- {o}: {ORIGINS[o]}" for o in ORIGINS if o in used))


def profile_of(args, config, sources, jobs, card: str) -> str:
    """Write the profile `args` ask for; what was written, for the terminal."""
    runtimes = planned_runtimes(config, sources, jobs, card, args.mfu, args.gpu_mem_gb)
    caps = {"max_runtime": args.max_runtime, "max_mem_mb": args.max_mem_mb}
    text = write_profile(
        TEMPLATE.read_text(),
        runtimes,
        config["resources"]["gpu"],
        f"written by python -m crossprobe.plan --configfile {args.configfile} --write-profile "
        f"{args.write_profile} from {TEMPLATE.relative_to(REPO)}; planned runtimes: {card} at "
        f"{args.mfu:.0%} of its bf16 peak",
        caps={k: v for k, v in caps.items() if v is not None},
        partition=args.partition,
        gpu_partition=args.gpu_partition,
        gpu_type=args.gpu_type,
        account=args.account,
    )
    args.write_profile.mkdir(parents=True, exist_ok=True)
    target = args.write_profile / "config.yaml"
    target.write_text(text)
    settings = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#"))
    left = sorted({p for p in PLACEHOLDERS.values() if p in settings})
    return f"wrote {target}" + (f"; fill in {', '.join(left)}" if left else "")


if __name__ == "__main__":
    main()
