rule score_column:
    input:
        score_files,
        lib=library("score_column.py"),
    output:
        paths.SCORES,
    log:
        "logs/{experiment}/score_column/{method}/on~{source}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        plan=score_plan,
    script:
        "../scripts/score_column.py"
