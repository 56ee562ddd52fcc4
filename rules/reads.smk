rule cache_activations:
    input:
        graded=answers_of(),
        model=paths.MODEL,
        lib=library("reads/cache_activations.py"),
    output:
        paths.READS,
    log:
        paths.log("cache_activations", paths.READS),
    benchmark:
        paths.benchmark("cache_activations", paths.READS)
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
        gpu_mem_mb=MODEL_GPU_MEM_MB,
    params:
        runtime=model_runtime,
        activations=stages.reads_params(config),
        store=lambda wc: fill(paths.STORE, wc),
    script:
        "../scripts/reads/cache_activations.py"


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
        runtime=light_runtime_min,
    params:
        probe=stages.without_seeds(config["probe"]),
        training=training,
    script:
        "../scripts/reads/fit_probe.py"
