def baseline_inputs(wildcards):
    """Source confidence reads only the source's answers; agreement also the estimator's."""
    inputs = graded_splits(wildcards.source)
    if wildcards.method != "source_confidence":
        inputs.update(
            {f"own_{s}": f"results/graded/{wildcards.model}/{s}.parquet" for s in SPLITS}
        )
    return inputs


rule score_baseline:
    input:
        unpack(baseline_inputs),
        lib=library("score_baseline.py"),
    output:
        "results/scores/{method}/{model}/on~{source}.parquet",
    wildcard_constraints:
        method="source_confidence|agreement|agreement_prob",
    log:
        "logs/score_baseline/{method}/{model}/on~{source}.log",
    localrule: True
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/score_baseline.py"
