"""The frozen estimators' cached reads (features and zero-shot query logits) and the probes
trained on them."""
