rule evaluate_column:
    input:
        scores=lambda wc: [
            fill(paths.SCORES, wc, method=m) for m in column_methods(wc.source)
        ],
        lib=library("evaluate_column.py"),
    output:
        paths.METRICS,
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
        evaluation=lookup(dpath="evaluation", within=config),
        seed=config["seed"],
    script:
        "../scripts/evaluate_column.py"


rule aggregate:
    input:
        metrics=target(paths.METRICS, source=COLUMNS),
        lib=library("aggregate.py"),
    output:
        tsv=report(
            paths.GRID,
            caption="../report/grid.rst",
            category="Grid",
        ),
        markdown=report(
            paths.GRID_MARKDOWN,
            caption="../report/grid_md.rst",
            category="Grid",
        ),
    log:
        "logs/{experiment}/aggregate/grid.log",
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
        png=report(
            paths.HEATMAP,
            caption="../report/heatmap.rst",
            category="Figure",
        ),
        pdf=report(
            paths.HEATMAP_PDF,
            caption="../report/heatmap.rst",
            category="Figure",
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
