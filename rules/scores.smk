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
        **LIGHT_RESOURCES,
    params:
        scoring=lambda wc: dag.scoring(config, wc.method, wc.source),
    script:
        "../scripts/scores/score_column.py"
