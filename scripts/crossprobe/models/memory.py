"""How much memory a batch of a model task needs, from the model's config alone, and how many
rows of a given padded width fit in a job's memory.

The model counts what each footprint (`crossprobe.contract.model_tasks.Footprint`) keeps alive at
its peak, in bytes, for a batch of `rows` sequences padded to `width` tokens:

- every forward pass: one decoder layer's working tensors per token (residual, norm and its
  float32 temporaries, q/k/v, attention output, the MLP's gate, activation, up and product), the
  causal mask expanded per row (width^2), and with eager attention the scores and
  their softmax (heads x width^2 per row; fused attention, the default, keeps none of them);
- `generate`: the key/value cache of prompt + new tokens (2 x layers x KV heads x head size per
  token), and the float32 scores of every new token (kept for the answer's log-probability);
- `cloze`: a row is a question's prompt and all its options: the attention masks built for it
  (one per layer type, at most two, additive float32 under eager attention), and the float32
  logits of its option tokens and their log-softmax;
- `next_token`: the float32 logits of the last position (and their log-softmax);
- `reads`: the hidden states of every layer (the forward pass returns them all);
- `query`: nothing more: only the query's two answer logits are computed (`lm.logits_of`);
- `train`: what backpropagation saves, for every layer: the norms' float32 copies, q/k/v and the
  attention output, four MLP-wide tensors (and with eager attention the probabilities); under
  gradient checkpointing only each layer's input, and one layer's worth while it is recomputed;
  plus the JS regulariser's logits when it is on. The regulariser's tuned pass is a second graph
  over its own text: training backpropagates the query's loss before running it, so the two
  graphs never live together, and a batch is counted at the wider of its two texts.

The weights themselves are counted once per job (`weights_bytes`); parameters and norm widths
are counted on the loaded model, or on the architecture built on the meta device (no memory, no
download).
"""

import logging
from dataclasses import dataclass

from crossprobe.contract.model_tasks import AUTO, Footprint

log = logging.getLogger(__name__)

# bytes per element of the activations (the residual stream) in each number format
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "bfloat16-linear": 4}
FLOAT32 = 4
GPU_SHARE = 0.9  # of a card's memory: the rest is the CUDA context and the allocator's slack


def batch_budget_bytes(device_type: str, limit_bytes: int, held_bytes: int) -> int:
    """What a model job's batches may use: on a GPU, `GPU_SHARE` of the memory it may use
    (`resources.gpu_mem_mb`, else the card's), on a CPU its memory request, less what the job
    holds once its model is loaded. The jobs pass what they measure, the plan what it expects."""
    usable = int(GPU_SHARE * limit_bytes) if device_type == "cuda" else limit_bytes
    return max(usable - held_bytes, 0)


@dataclass(frozen=True)
class Shape:
    """What memory depends on in a decoder-only transformer (read from its config)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    params: int
    norm_width: int  # elements of the normalisation weights of one decoder layer
    eager_attention: bool = False

    @property
    def kv_bytes_per_token(self) -> int:
        """Elements of the key/value cache per token (multiply by the dtype's bytes)."""
        return 2 * self.layers * self.kv_heads * self.head_dim


def meta_model(config):
    """The causal LM `config` describes, built on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def norm_width(model) -> int:
    """Elements of the normalisation weights of the first decoder layer: each norm keeps float32
    copies of its input for backpropagation."""
    layer = next(m for name, m in model.named_modules() if name.endswith("layers.0"))
    return sum(
        p.numel()
        for m in layer.modules()
        if "norm" in type(m).__name__.lower()
        for p in m.parameters(recurse=False)
    )


def shape_of(config, model=None) -> Shape:
    """The `Shape` of a transformers config (a multimodal config's text part), counted on
    `model` when it is loaded, else on the architecture built on the meta device."""
    model = model if model is not None else meta_model(config)
    text = config.get_text_config()
    heads = text.num_attention_heads
    return Shape(
        layers=text.num_hidden_layers,
        hidden=text.hidden_size,
        heads=heads,
        kv_heads=getattr(text, "num_key_value_heads", None) or heads,
        head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads,
        intermediate=text.intermediate_size,
        vocab=text.vocab_size,
        tied=bool(getattr(config, "tie_word_embeddings", False)),
        params=sum(p.numel() for p in model.parameters()),
        norm_width=norm_width(model),
        eager_attention=getattr(config, "_attn_implementation", None) == "eager",
    )


def weights_bytes(shape: Shape, dtype: str) -> int:
    """The weights in the number format `dtype`; below float32 the LM head also keeps a float32
    copy (the model computes logits in float32), and an untied head's own copy goes. In
    bfloat16-linear the embeddings (and an untied head) stay float32, the rest is bfloat16."""
    if dtype == "bfloat16-linear":
        embeddings = shape.vocab * shape.hidden * (1 if shape.tied else 2)
        return 2 * (shape.params - embeddings) + FLOAT32 * embeddings
    size = DTYPE_BYTES[dtype]
    total = shape.params * size
    if size < FLOAT32:
        head = shape.vocab * shape.hidden
        total += head * FLOAT32 - (0 if shape.tied else head * size)
    return total


def _layer_elements_per_token(shape: Shape) -> int:
    attention = 2 * shape.heads * shape.head_dim + 2 * shape.kv_heads * shape.head_dim
    return 4 * shape.hidden + attention + 4 * shape.intermediate


def _scores_elements(shape: Shape, width: int) -> int:
    """Attention scores and their softmax, per row, where attention materialises them (eager);
    fused attention (sdpa, flash) keeps none of that size."""
    return 2 * shape.heads * width * width if shape.eager_attention else 0


def row_bytes(shape: Shape, footprint: Footprint, width: int, dtype: str, **extra) -> int:
    """Bytes one row of `width` tokens adds to a batch of `footprint` at its peak (an upper bound:
    tensors that do not overlap in time are all counted). `extra`:
    `new_tokens` (generate), `option_tokens` (cloze: a question's option tokens after its
    prompt), `js_tokens` (train: positions the JS regulariser keeps, 0 when it is off),
    `checkpointing` (train: gradient checkpointing on)."""
    size = DTYPE_BYTES[dtype]
    forward = size * (width * _layer_elements_per_token(shape) + _scores_elements(shape, width))
    forward += width * width  # the causal mask, expanded per row (bool)
    if footprint == Footprint.GENERATE:
        new = extra["new_tokens"]
        cache = size * (width + new) * shape.kv_bytes_per_token
        return forward + cache + 3 * new * shape.vocab * FLOAT32
    if footprint == Footprint.CLOZE:
        masks = 2 * FLOAT32 * width * width
        return forward + masks + 2 * extra["option_tokens"] * shape.vocab * FLOAT32
    if footprint == Footprint.NEXT_TOKEN:
        return forward + 3 * shape.vocab * FLOAT32
    if footprint == Footprint.READS:
        return forward + size * width * (shape.layers + 1) * shape.hidden
    if footprint == Footprint.QUERY:
        return forward
    if footprint == Footprint.TRAIN:
        # per layer: the norms' float32 input and output and their cast result; q, k, v and
        # the attention output (before and after the rotary embedding); the MLP's gate, its
        # activation, up and their product; the residual stream
        attention = 3 * shape.heads * shape.head_dim + 3 * shape.kv_heads * shape.head_dim
        norms = shape.norm_width * (2 * FLOAT32 + size)
        layer = width * (norms + size * (attention + 4 * shape.intermediate + shape.hidden))
        layer += size * _scores_elements(shape, width)
        if extra.get("checkpointing"):
            # each layer keeps its input; the layer being recomputed keeps all of the above
            saved = shape.layers * size * width * shape.hidden + layer
        else:
            saved = shape.layers * layer
        regulariser = 4 * extra.get("js_tokens", 0) * shape.vocab * FLOAT32
        return saved + 2 * forward + regulariser
    raise ValueError(f"unknown footprint {footprint!r}; expected one of {', '.join(Footprint)}")


def batch_bytes(
    shape: Shape, footprint: Footprint, rows: int, width: int, dtype: str, **extra
) -> int:
    """Peak bytes of a batch of `rows` sequences padded to `width`, weights not included."""
    return rows * row_bytes(shape, footprint, width, dtype, **extra)


class Budget:
    """The memory a job's batches of one footprint may use, and how many rows of a width fit in
    it.

    `free_bytes` is what the job has left once its model is loaded; None means no limit (batches
    are then only capped by their configured size). A CUDA out-of-memory error `halve`s it."""

    def __init__(self, shape: Shape, dtype: str, free_bytes: int | None, footprint: Footprint):
        self.shape, self.dtype, self.free_bytes = shape, dtype, free_bytes
        self.footprint = Footprint(footprint)
        log.info("batches sized for the %s footprint", self.footprint)

    def sized_for(self, footprint: Footprint) -> "Budget":
        """The same memory, for batches of another footprint (a LoRA run's held-out scoring)."""
        return Budget(self.shape, self.dtype, self.free_bytes, footprint)

    def rows(self, width: int, most: int, **extra) -> int:
        """Rows of `width` tokens a batch may hold: at most `most`, at least 1."""
        if self.free_bytes is None:
            return most
        one = row_bytes(self.shape, self.footprint, width, self.dtype, **extra)
        return int(max(1, min(most, self.free_bytes // max(one, 1))))

    def recomputes(self, setting, width: int, **extra) -> bool:
        """Whether a training batch at `width` recomputes its layers in its backward pass: as
        `setting` (lora.gradient_checkpointing) says, or with `auto` only where not one of its
        rows fits without (a batch whose rows fit runs in parts that fit instead: splitting
        costs no FLOPs, recomputing about a third more; with no limit, everything fits)."""
        if setting != AUTO:
            return bool(setting)
        kept = row_bytes(self.shape, self.footprint, width, self.dtype, **extra)
        return self.free_bytes is not None and kept > self.free_bytes

    def halve(self, rows: int, width: int, **extra) -> None:
        """After a batch of `rows` x `width` ran out of memory: half of the budget, or of that
        batch's size when that was smaller (or there was no budget)."""
        failed = batch_bytes(self.shape, self.footprint, rows, width, self.dtype, **extra)
        self.free_bytes = (failed if self.free_bytes is None else min(self.free_bytes, failed)) // 2
        log.warning(
            "a %s batch ran out of GPU memory: batch memory budget halved to %.0f MiB",
            self.footprint,
            self.free_bytes / 2**20,
        )
