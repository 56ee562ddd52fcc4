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
        reads=lambda wc: fill(paths.READS, wc, split=TRAIN),
        train=answers_of(TRAIN),
        lib=library("fit_probe.py"),
    output:
        paths.PROBE,
    log:
        "logs/{experiment}/fit_probe/{model}/on~{source}.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=growing(2000),
        runtime=light_runtime_min,
    params:
        probe=lookup(dpath="probe", within=config),
        selection=lookup(dpath="selection", within=config),
        seed=config["seed"],
    script:
        "../scripts/fit_probe.py"
