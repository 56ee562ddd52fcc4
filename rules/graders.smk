rule compare_graders:
    input:
        judged=target(paths.JUDGED, source=AGREEMENT_COLUMNS),
        scores=[target(paths.SCORES, method=m, source=s)[0] for m, s in GRADED_SCORES],
        lib=library("compare_graders.py"),
    output:
        agreement=report(
            paths.GRADERS_TABLE, caption="../report/graders.rst", category="Graders"
        ),
        auroc=report(
            paths.GRADERS_AUROC, caption="../report/graders.rst", category="Graders"
        ),
        markdown=report(
            paths.GRADERS_MARKDOWN, caption="../report/graders.rst", category="Graders"
        ),
    log:
        "logs/{experiment}/compare_graders/graders.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        plan={
            "columns": AGREEMENT_COLUMNS,
            "scores": GRADED_SCORES,
            "names": LAYOUT["names"],
        },
    script:
        "../scripts/compare_graders.py"
