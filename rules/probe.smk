rule cache_activations:
    input:
        unpack(lambda wc: graded_splits(wc.source)),
        model="results/models/{model}/model.json",
        lib=library("cache_activations.py"),
    output:
        "results/activations/{model}/on~{source}.safetensors",
    log:
        "logs/cache_activations/{model}/on~{source}.log",
    benchmark:
        "benchmarks/cache_activations/{model}/on~{source}.tsv"
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
        store=lambda wc: f"results/activations/{wc.model}/store",
    script:
        "../scripts/cache_activations.py"


rule fit_probe:
    input:
        activations="results/activations/{model}/on~{source}.safetensors",
        train="results/graded/{source}/train.parquet",
        calibration="results/graded/{source}/calibration.parquet",
        lib=library("fit_probe.py"),
    output:
        "results/probes/{model}/on~{source}.safetensors",
    log:
        "logs/fit_probe/{model}/on~{source}.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=growing(2000),
        runtime=light_runtime_min,
    params:
        probe=lookup(dpath="probe", within=config),
        seed=config["seed"],
    script:
        "../scripts/fit_probe.py"


rule score_probe:
    input:
        unpack(lambda wc: graded_splits(wc.source)),
        probe="results/probes/{model}/on~{source}.safetensors",
        activations="results/activations/{model}/on~{source}.safetensors",
        lib=library("score_probe.py"),
    output:
        "results/scores/probe/{model}/on~{source}.parquet",
    log:
        "logs/score_probe/{model}/on~{source}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=growing(2000),
        runtime=light_runtime_min,
    params:
        probe=lookup(dpath="probe", within=config),
    script:
        "../scripts/score_probe.py"
