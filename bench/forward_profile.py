"""Benchmark: where a model task's time goes besides its matrix products.

For each default model, in the number format its jobs run in (`dtype: auto` decides, as in a
job) and at one thread (the default jobs'), profiles with torch.profiler a batch of query texts
of the default run (`--rows` of them, `--tokens` long) in the two shapes every model task has:
an inference forward pass (answers, reads, LoRA scoring) and a LoRA training step (forward and
backward, adapters on the default target modules, the query's two-logit head). Prints the time
in matrix products (aten::mm, bmm, addmm), attention, casts between number formats, and every
other op (norms, activations, rotary, adds), and the step's time over its matrix products': the
ratio a model task cannot go below without fusing the ops between the products, whatever its
batching.

    snakemake answers                # model checkpoints of the default run
    python bench/forward_profile.py  # [--rows 16] [--tokens 64] [--directory DIR]
"""

import argparse

import torch

from crossprobe.lora.training import attach_lora
from crossprobe.models.lm import load_model, logits_of
from crossprobe.models.tokens import query_choice_ids

from finished import FinishedRun

GROUPS = {
    "matrix products": ("aten::mm", "aten::bmm", "aten::addmm"),
    "attention": ("aten::_scaled_dot_product", "aten::_flash_attention", "aten::softmax"),
    "casts and copies": ("aten::copy_",),
}


def group_of(op: str) -> str:
    for group, prefixes in GROUPS.items():
        if op.startswith(prefixes):
            return group
    return "other ops"


def forward(model, ids):
    with torch.inference_mode():
        model(input_ids=ids, logits_to_keep=1, use_cache=False)


def training_step(model, ids):
    model(input_ids=ids, logits_to_keep=1, use_cache=False).logits.sum().backward()


def profile(step, *args) -> dict:
    """{group: milliseconds of self time} of one call of `step(*args)`, after a warm-up call."""
    step(*args)
    with torch.profiler.profile() as prof:
        step(*args)
    times = dict.fromkeys([*GROUPS, "other ops"], 0.0)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            times[group_of(event.key)] += event.self_cpu_time_total / 1e3
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    FinishedRun.arguments(parser)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = FinishedRun.of(args)
    print(f"{args.rows} rows x {args.tokens} tokens, 1 thread; milliseconds of self time")
    for model_id in run.models():
        model, tokenizer, _ = load_model(run.model_record(model_id), "cpu", "auto")
        products = next(p for n, p in model.named_parameters() if "proj" in n).dtype
        dtype = str(products).removeprefix("torch.")
        ids = torch.randint(100, len(tokenizer) - 1, (args.rows, args.tokens))
        choices = torch.tensor(query_choice_ids(tokenizer))
        with logits_of(model, choices):  # the query's two-logit head, as the model tasks read it
            inference = profile(forward, model, ids)
        adapted = attach_lora(model, run.lora(model_id)).train()
        with logits_of(adapted, choices):
            training = profile(training_step, adapted, ids)
        for shape, times in (("forward", inference), ("LoRA step", training)):
            total = sum(times.values())
            parts = ", ".join(f"{group} {ms:.0f}" for group, ms in times.items())
            print(
                f"{model_id} ({dtype} products) {shape}: {total:.0f} ms = {parts}; "
                f"total / matrix products {total / times['matrix products']:.2f}x"
            )


if __name__ == "__main__":
    main()
