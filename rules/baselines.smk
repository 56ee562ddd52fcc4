rule score_baseline:
    input:
        unpack(baseline_inputs),
        lib=library("score_baseline.py"),
    output:
        "results/scores/{method}/{model}/on~{source}.parquet",
    log:
        "logs/score_baseline/{method}/{model}/on~{source}.log",
    wildcard_constraints:
        method="source_confidence|agreement|agreement_prob",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    script:
        "../scripts/score_baseline.py"
