"""LoRA + Prompt: tuning an estimator to answer "Is the proposed answer correct?", and scoring
with it."""
