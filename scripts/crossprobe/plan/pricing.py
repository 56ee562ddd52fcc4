"""A job's hours on a named card: its forward passes at a stated share of the card's bf16 peak,
its decoding bounded by the card's memory bandwidth."""

# dense bfloat16 TFLOP/s, memory (GB) and bandwidth (TB/s), from the vendors' datasheets
CARDS = {
    "a100-40gb": (312, 40, 1.555),
    "a100-80gb": (312, 80, 2.039),
    "h100-80gb": (989, 80, 3.35),
    "h200-141gb": (989, 141, 4.8),
    "l40s-48gb": (362, 48, 0.864),
}


def seconds_on(card: str, mfu: float, work) -> float:
    """A job's seconds on `card`: its forward passes at `mfu` of the card's bf16 peak; each new
    token the larger of its FLOPs and the weights' read at the card's bandwidth."""
    tflops, _, bandwidth = CARDS[card]
    rate = tflops * 1e12 * mfu
    decoding = max(work.decode_flops / rate, work.decode_bytes / (bandwidth * 1e12))
    return work.flops / rate + decoding
