"""Loading and running causal LMs: length-sorted, left-padded batches, tokenisation as the
model sees it, and a content-addressed store of per-text results."""
