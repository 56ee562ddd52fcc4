rule evaluate_cell:
    input:
        scores="results/scores/{method}/{model}/on~{source}.parquet",
        lib=library("evaluate_cell.py"),
    output:
        "results/metrics/{method}/{model}/on~{source}.tsv",
    params:
        evaluation=lookup(dpath="evaluation", within=config),
        seed=config["seed"],
    log:
        "logs/evaluate_cell/{method}/{model}/on~{source}.log",
    localrule: True
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/evaluate_cell.py"


def metric_tables():
    return [
        f"results/metrics/{method}/{m}/on~{s}.tsv"
        for method in METHODS
        for m, s in cells(config, method)
    ]


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
    params:
        methods=METHODS,
        names={m: config["models"][m].get("display_name", m) for m in GRID},
    log:
        "logs/aggregate/grid.log",
    localrule: True
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    conda:
        "../envs/analysis.yaml"
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
    params:
        methods=METHODS,
        names={m: config["models"][m].get("display_name", m) for m in GRID},
    log:
        "logs/plot_heatmap/heatmap.log",
    localrule: True
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/plot_heatmap.py"
