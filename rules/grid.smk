rule evaluate_cell:
    input:
        scores="results/scores/{method}/{model}/on~{source}.parquet",
        lib=library("evaluate_cell.py"),
    output:
        "results/metrics/{method}/{model}/on~{source}.tsv",
    log:
        "logs/evaluate_cell/{method}/{model}/on~{source}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        evaluation=lookup(dpath="evaluation", within=config),
        seed=config["seed"],
    script:
        "../scripts/evaluate_cell.py"


rule aggregate:
    input:
        metrics=metric_tables(),
        lib=library("aggregate.py"),
    output:
        tsv=report(
            "results/tables/grid.tsv",
            caption="../report/grid.rst",
            category="Grid",
        ),
        markdown="results/tables/grid.md",
    log:
        "logs/aggregate/grid.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        methods=METHODS,
        names={m: config["models"][m].get("display_name", m) for m in GRID},
    script:
        "../scripts/aggregate.py"


rule plot_heatmap:
    input:
        grid="results/tables/grid.tsv",
        lib=library("plot_heatmap.py"),
    output:
        png=report(
            "results/figures/heatmap.png",
            caption="../report/heatmap.rst",
            category="Figure",
        ),
        pdf="results/figures/heatmap.pdf",
    log:
        "logs/plot_heatmap/heatmap.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        methods=METHODS,
        names={m: config["models"][m].get("display_name", m) for m in GRID},
    script:
        "../scripts/plot_heatmap.py"
