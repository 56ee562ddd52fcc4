# the learned methods' score tables in the columns whose answer-set labels the judge grades too
GRADED_SCORES = dag.graded_scores(config)


rule evaluate_column:
    input:
        scores=lambda wc: [
            fill(paths.SCORES, wc, method=m)
            for m in dag.column_methods(config, wc.source)
        ],
        train=answers_of(TRAIN),
        answers=lambda wc: list(dag.consensus_answers(config, wc.source).values()),
        lib=library("evaluation/evaluate_column.py"),
    output:
        metrics=paths.METRICS,
        contrasts=paths.CONTRASTS,
        sweep=paths.SWEEP,
        recipes=paths.RECIPES,
        curves=paths.CURVES,
        consensus=paths.CONSENSUS,
    log:
        paths.log("evaluate_column", paths.METRICS),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        methods=lambda wc: dag.column_methods(config, wc.source),
        evaluation=dag.evaluation_params(config),
        training=lambda wc: dag.training_params(config, wc.source),
        answers=lambda wc: list(dag.consensus_answers(config, wc.source)),
    script:
        "../scripts/evaluation/evaluate_column.py"


rule aggregate:
    input:
        metrics=target(paths.METRICS, source=COLUMNS),
        contrasts=target(paths.CONTRASTS, source=COLUMNS),
        sweep=target(paths.SWEEP, source=COLUMNS),
        recipes=target(paths.RECIPES, source=COLUMNS),
        curves=target(paths.CURVES, source=COLUMNS),
        consensus=target(paths.CONSENSUS, source=COLUMNS),
        lib=library("evaluation/aggregate.py"),
    output:
        grid=report(paths.GRID, caption="../report/grid.rst", category="Tables"),
        markdown=report(
            paths.GRID_MARKDOWN, caption="../report/grid_md.rst", category="Tables"
        ),
        findings=report(
            paths.FINDINGS, caption="../report/findings.rst", category="Tables"
        ),
        contrasts=report(
            paths.CONTRASTS_TABLE, caption="../report/contrasts.rst", category="Tables"
        ),
        sweep=report(
            paths.SWEEP_TABLE, caption="../report/sweep.rst", category="Tables"
        ),
        recipes=report(
            paths.RECIPES_TABLE, caption="../report/recipes.rst", category="Tables"
        ),
        curves=report(
            paths.CURVES_TABLE, caption="../report/curves.rst", category="Tables"
        ),
        consensus=report(
            paths.CONSENSUS_TABLE, caption="../report/consensus.rst", category="Tables"
        ),
        consensus_markdown=report(
            paths.CONSENSUS_MARKDOWN,
            caption="../report/consensus.rst",
            category="Tables",
        ),
    log:
        paths.log("aggregate", paths.GRID),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        layout=LAYOUT,
    script:
        "../scripts/evaluation/aggregate.py"


rule compare_graders:
    input:
        judged=target(paths.JUDGED, source=AGREEMENT_COLUMNS),
        scores=[target(paths.SCORES, method=m, source=s)[0] for m, s in GRADED_SCORES],
        graded=[grid.answers_path(config, s, "test") for s in REFERENCE_COLUMNS],
        reference=config["grading"]["reference"]["file"] if REFERENCE_COLUMNS else [],
        lib=library("evaluation/compare_graders.py"),
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
        reference=paths.GRADERS_REFERENCE,
    log:
        paths.log("compare_graders", paths.GRADERS_TABLE),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        comparison={
            "columns": AGREEMENT_COLUMNS,
            "scores": GRADED_SCORES,
            "reference": {
                s: config["grading"]["reference"]["models"][s]
                for s in REFERENCE_COLUMNS
            },
            "names": LAYOUT["names"],
        },
        bootstrap=dag.bootstrap_params(config),
    script:
        "../scripts/evaluation/compare_graders.py"


rule compare_reference:
    input:
        scores=[
            target(paths.SCORES, method=m, source=s)[0] for m, s in REFERENCE_SCORES
        ],
        reference=(
            config["evaluation"]["reference"]["file"] if REFERENCE_SCORES else []
        ),
        lib=library("evaluation/compare_reference.py"),
    output:
        cells=report(
            paths.REFERENCE_CELLS,
            caption="../report/reference.rst",
            category="Reference",
        ),
        subjects=paths.REFERENCE_SUBJECTS,
        markdown=report(
            paths.REFERENCE_MARKDOWN,
            caption="../report/reference.rst",
            category="Reference",
        ),
    log:
        paths.log("compare_reference", paths.REFERENCE_CELLS),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        comparison=lambda wc: {
            "models": config["evaluation"]["reference"]["models"],
            "names": LAYOUT["names"],
        },
    script:
        "../scripts/evaluation/compare_reference.py"
