rule cache_activations:
    input:
        graded=answers_of(),
        model=paths.MODEL,
        lib=library("cache_activations.py"),
    output:
        paths.READS,
    log:
        "logs/{experiment}/cache_activations/{model}/on~{source}/{split}.log",
    benchmark:
        "benchmarks/{experiment}/cache_activations/{model}/on~{source}/{split}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
    params:
        runtime=model_runtime,
        activations=lookup(dpath="activations", within=config),
        store=lambda wc: fill(paths.STORE, wc),
    script:
        "../scripts/cache_activations.py"


rule fit_probe:
    input:
        reads=lambda wc: training_files(paths.READS, wc),
        answers=lambda wc: training_files(None, wc),
        lib=library("fit_probe.py"),
    output:
        paths.PROBE,
    log:
        "logs/{experiment}/fit_probe/{features}/{model}/on~{train_set}/n~{n_train}/seed~{seed}.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=growing(2000),
        runtime=light_runtime_min,
    params:
        probe=without_seeds(config["probe"]),
        selection=lookup(dpath="selection", within=config),
        split_seed=config["seed"],
        sources=lambda wc: training_sets(config, wc.train_set),
    script:
        "../scripts/fit_probe.py"
