rule cache_activations:
    input:
        graded=answers_of(),
        model=paths.MODEL,
        lib=library("reads/cache_activations.py"),
    output:
        task_output("cache_activations"),
    log:
        paths.log("cache_activations", paths.READS),
    benchmark:
        paths.benchmark("cache_activations", paths.READS)
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
    params:
        runtime=model_runtime,
        settings=task_settings("cache_activations"),
        store=lambda wc: fill(paths.STORE, wc),
    script:
        "../scripts/reads/cache_activations.py"


# one job per estimator fits all its runs (seeds x training resamples) at once: a job's start
# costs more than a run of the grid's recipe
rule fit_probe:
    input:
        reads=training_reads,
        answers=training_answers,
        lib=library("reads/fit_probe.py"),
    output:
        paths.PROBE,
    log:
        paths.log("fit_probe", paths.PROBE),
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=growing(2000),
        # the presets' grid jobs train 33 runs of 10,000 steps on 4,096-wide features on one
        # core: up to ~100 minutes (docs/paper.md)
        runtime=growing(120),
    params:
        probe=lambda wc: dag.probe_params(config, wc.n_train, wc.recipe),
        training=training,
    script:
        "../scripts/reads/fit_probe.py"
