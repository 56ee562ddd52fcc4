"""What every stage agrees on, defined once: the config schema and its validation, the method
and answer-format registries, the split contract, the results path scheme, the texts a model
sees, portable resources. Torch-free: the workflow reads it while it builds the DAG."""
