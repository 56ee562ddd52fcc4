rule score_column:
    input:
        lambda wc: sorted(set(dag.score_inputs(config, wc.method, wc.source).values())),
        lib=library("scores/score_column.py"),
    output:
        paths.SCORES,
    log:
        paths.log("score_column", paths.SCORES),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        plan=lambda wc: dag.score_plan(config, wc.method, wc.source),
    script:
        "../scripts/scores/score_column.py"
