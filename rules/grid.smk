rule evaluate_column:
    input:
        scores=lambda wc: [
            fill(paths.SCORES, wc, method=m) for m in column_methods(wc.source)
        ],
        train=answers_of(TRAIN),
        lib=library("evaluate_column.py"),
    output:
        metrics=paths.METRICS,
        contrasts=paths.CONTRASTS,
        sweep=paths.SWEEP,
        curves=paths.CURVES,
    log:
        "logs/{experiment}/evaluate_column/on~{source}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        methods=lambda wc: column_methods(wc.source),
        evaluation=lambda wc: {
            **config["evaluation"],
            "headline_metric": LAYOUT["headline"],
        },
        selection=lookup(dpath="selection", within=config),
        seed=config["seed"],
    script:
        "../scripts/evaluate_column.py"


rule aggregate:
    input:
        metrics=target(paths.METRICS, source=COLUMNS),
        contrasts=target(paths.CONTRASTS, source=COLUMNS),
        sweep=target(paths.SWEEP, source=COLUMNS),
        curves=target(paths.CURVES, source=COLUMNS),
        lib=library("aggregate.py"),
    output:
        grid=report(paths.GRID, caption="../report/grid.rst", category="Tables"),
        markdown=report(
            paths.GRID_MARKDOWN, caption="../report/grid_md.rst", category="Tables"
        ),
        contrasts=report(
            paths.CONTRASTS_TABLE, caption="../report/contrasts.rst", category="Tables"
        ),
        sweep=report(
            paths.SWEEP_TABLE, caption="../report/sweep.rst", category="Tables"
        ),
        curves=report(
            paths.CURVES_TABLE, caption="../report/curves.rst", category="Tables"
        ),
    log:
        "logs/{experiment}/aggregate/tables.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        layout=LAYOUT,
    script:
        "../scripts/aggregate.py"


rule plot_heatmap:
    input:
        grid=paths.GRID,
        lib=library("plot_heatmap.py"),
    output:
        png=report(paths.HEATMAP, caption="../report/heatmap.rst", category="Figures"),
        pdf=report(
            paths.HEATMAP_PDF, caption="../report/heatmap.rst", category="Figures"
        ),
    log:
        "logs/{experiment}/plot_heatmap/heatmap.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        layout=LAYOUT,
    script:
        "../scripts/plot_heatmap.py"


rule plot_contrasts:
    input:
        contrasts=paths.CONTRASTS_TABLE,
        lib=library("plot_contrasts.py"),
    output:
        report(
            paths.CONTRASTS_FIGURE,
            caption="../report/contrasts_figure.rst",
            category="Figures",
        ),
    log:
        "logs/{experiment}/plot_contrasts/contrasts.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        layout=LAYOUT,
    script:
        "../scripts/plot_contrasts.py"


rule plot_sweep:
    input:
        sweep=paths.SWEEP_TABLE,
        grid=paths.GRID,
        lib=library("plot_sweep.py"),
    output:
        report(
            paths.SWEEP_FIGURE,
            caption="../report/sweep_figure.rst",
            category="Figures",
        ),
    log:
        "logs/{experiment}/plot_sweep/sweep.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        layout=LAYOUT,
    script:
        "../scripts/plot_sweep.py"


rule plot_curves:
    input:
        curves=paths.CURVES_TABLE,
        grid=paths.GRID,
        lib=library("plot_curves.py"),
    output:
        reliability=report(
            paths.RELIABILITY,
            caption="../report/reliability.rst",
            category="Reliability",
            subcategory="{method}",
        ),
        risk_coverage=report(
            paths.RISK_COVERAGE,
            caption="../report/risk_coverage.rst",
            category="Risk-coverage",
            subcategory="{method}",
        ),
    log:
        "logs/{experiment}/plot_curves/{method}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        layout=LAYOUT,
    script:
        "../scripts/plot_curves.py"
