"""The Jensen-Shannon regulariser of LoRA + Prompt training: how far the tuned model's
next-token distributions move from the frozen model's on the regularised tokens."""

import numpy as np
import torch

from crossprobe.models.lm import run_batch


def js_divergence(logits_p, logits_q):
    """Jensen-Shannon divergence between next-token distributions, one value per position."""
    lp, lq = torch.log_softmax(logits_p.float(), -1), torch.log_softmax(logits_q.float(), -1)
    lm = torch.logsumexp(torch.stack([lp, lq]), 0) - np.log(2.0)
    return 0.5 * ((lp.exp() * (lp - lm)).sum(-1) + (lq.exp() * (lq - lm)).sum(-1))


def js_penalty(peft_model, tokenizer, device, seqs, spans):
    """The JS regulariser of a batch, as the paper's code computes it: the divergence between the
    tuned and the frozen model's next-token distributions, summed over the positions that
    predict each text's regularised tokens (`spans`), averaged over the batch."""
    keep = max(back for back, _ in spans)
    tuned = run_batch(peft_model, seqs, tokenizer.pad_token_id, device, logits_to_keep=keep).logits
    with torch.no_grad(), peft_model.disable_adapter():
        frozen = run_batch(
            peft_model, seqs, tokenizer.pad_token_id, device, logits_to_keep=keep
        ).logits
    terms = [
        js_divergence(
            tuned[row, keep - back : keep - stop], frozen[row, keep - back : keep - stop]
        ).sum()
        for row, (back, stop) in enumerate(spans)
    ]
    return torch.stack(terms).mean()
