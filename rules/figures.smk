rule plot_heatmap:
    input:
        grid=paths.GRID,
        lib=library("figures/plot_heatmap.py"),
    output:
        png=report(paths.HEATMAP, caption="../report/heatmap.rst", category="Figures"),
        pdf=report(
            paths.HEATMAP_PDF, caption="../report/heatmap.rst", category="Figures"
        ),
        all_png=report(
            paths.HEATMAP_ALL, caption="../report/heatmap_all.rst", category="Figures"
        ),
        all_pdf=report(
            paths.HEATMAP_ALL_PDF,
            caption="../report/heatmap_all.rst",
            category="Figures",
        ),
    log:
        paths.log("plot_heatmap", paths.HEATMAP),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        layout=LAYOUT,
    script:
        "../scripts/figures/plot_heatmap.py"


rule plot_contrasts:
    input:
        contrasts=paths.CONTRASTS_TABLE,
        lib=library("figures/plot_contrasts.py"),
    output:
        report(
            paths.CONTRASTS_FIGURE,
            caption="../report/contrasts_figure.rst",
            category="Figures",
        ),
    log:
        paths.log("plot_contrasts", paths.CONTRASTS_FIGURE),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        layout=LAYOUT,
    script:
        "../scripts/figures/plot_contrasts.py"


rule plot_sweep:
    input:
        sweep=paths.SWEEP_TABLE,
        grid=paths.GRID,
        lib=library("figures/plot_sweep.py"),
    output:
        report(
            paths.SWEEP_FIGURE,
            caption="../report/sweep_figure.rst",
            category="Figures",
        ),
    log:
        paths.log("plot_sweep", paths.SWEEP_FIGURE),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        layout=LAYOUT,
    script:
        "../scripts/figures/plot_sweep.py"


rule plot_recipes:
    input:
        recipes=paths.RECIPES_TABLE,
        lib=library("figures/plot_recipes.py"),
    output:
        report(
            paths.RECIPES_FIGURE,
            caption="../report/recipes_figure.rst",
            category="Figures",
        ),
    log:
        paths.log("plot_recipes", paths.RECIPES_FIGURE),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        layout=LAYOUT,
    script:
        "../scripts/figures/plot_recipes.py"


rule plot_curves:
    input:
        curves=paths.CURVES_TABLE,
        grid=paths.GRID,
        lib=library("figures/plot_curves.py"),
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
        paths.log("plot_curves", paths.RELIABILITY),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        layout=LAYOUT,
    script:
        "../scripts/figures/plot_curves.py"
