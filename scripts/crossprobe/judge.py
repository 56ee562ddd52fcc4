"""The optional judge for open-ended answers: a local model asked whether two answers agree."""

from crossprobe.answering import next_token_logprobs
from crossprobe.lm import next_token_ids


def judge_verdicts(model, tokenizer, device, prompts, batch_size, max_length) -> list[bool]:
    """True where the judge puts more probability on " Yes" than on " No"."""
    if not prompts:
        return []
    yes, no = next_token_ids(tokenizer, "Answer:", [" Yes", " No"], "judge answers")
    logprobs = next_token_logprobs(model, tokenizer, device, prompts, batch_size, max_length)
    return (logprobs[:, yes] > logprobs[:, no]).tolist()
