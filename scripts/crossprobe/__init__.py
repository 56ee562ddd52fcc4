"""crossprobe: which language model can tell when another model is wrong?

Stage logic lives in this package's modules as plain functions; the scripts under scripts/ are
thin Snakemake adapters around them. Nothing here is imported at package import time, so the
workflow can use the torch-free modules (sources, resources, workflow) while it builds the DAG.
"""
