"""Portable resource requests (threads, mem_mb, runtime, gpu) that grow with each retry.

Snakemake calls a resource function as f(wildcards, attempt=k); attempt 1 asks for `base`, each
retry `factor` times more, so a job killed for memory or time gets room on the next attempt.
"""


def grown(base: float, attempt: int, factor: float = 2.0) -> int:
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return int(round(base * factor ** (attempt - 1)))


def growing(base: float, factor: float = 2.0):
    """A resource function for Snakemake: `base` on the first attempt, growing after."""

    def request(wildcards, attempt):
        return grown(base, attempt, factor)

    return request
