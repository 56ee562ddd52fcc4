"""The query of LoRA + Prompt and of the zero-shot query: the estimator's two logits for " i"
(no) and " ii" (yes) at the end of a query text. One loss on them trains an adapter and selects
the one kept; their difference is the log-odds of "correct"."""

import numpy as np
import torch

from crossprobe.models.lm import Throughput, in_batches, logits_of, padded_size, run_batch
from crossprobe.models.tokens import query_choice_ids


def query_loss(choice_logits: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """The query's loss: the cross-entropy of the two choices' logits (rows x 2: " i", " ii")
    against correctness (0/1), the mean over rows. LoRA training minimises it and its held-out
    value selects the adapter kept."""
    return torch.nn.functional.cross_entropy(choice_logits, correct)


@torch.inference_mode()
def query_choice_logits(model, tokenizer, device, seqs, batch_size: int, budget=None):
    """The logits of " i" and " ii" (float64, rows x 2) at the last position of each query
    sequence, kept unsaturated (a softmax in float32 ties every margin beyond ~17)."""
    choice_ids = torch.tensor(query_choice_ids(tokenizer), device=device)
    out = np.zeros((len(seqs), 2))
    meter = Throughput(len(seqs), "query scoring")

    def score(batch):
        batch_seqs = [seqs[i] for i in batch]
        with logits_of(model, choice_ids):
            logits = run_batch(model, batch_seqs, tokenizer.pad_token_id, device).logits
        out[batch] = logits[:, -1].double().cpu().numpy()
        meter.update(len(batch), sum(map(len, batch_seqs)), padded_size(batch_seqs))

    in_batches([len(s) for s in seqs], batch_size, score, budget)
    return out


def query_logodds(model, tokenizer, device, seqs, batch_size: int, budget=None) -> np.ndarray:
    """z_ii - z_i (float64) at the last position of each query sequence: the log-odds of
    "correct"."""
    pair = query_choice_logits(model, tokenizer, device, seqs, batch_size, budget)
    return pair[:, 1] - pair[:, 0]
