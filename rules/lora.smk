rule finetune_lora:
    input:
        model=paths.MODEL,
        answers=lambda wc: training_files(None, wc),
        lib=library("finetune_lora.py"),
    output:
        adapter=paths.ADAPTER,
        config=paths.ADAPTER_CONFIG,
    log:
        "logs/{experiment}/finetune_lora/{model}/on~{train_set}/n~{n_train}/seed~{seed}.log",
    benchmark:
        "benchmarks/{experiment}/finetune_lora/{model}/on~{train_set}/n~{n_train}/seed~{seed}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
    params:
        runtime=model_runtime,
        lora=lambda wc: without_seeds(lora_params(config, wc.model)),
        selection=lookup(dpath="selection", within=config),
        split_seed=config["seed"],
        sources=lambda wc: training_sets(config, wc.train_set),
    script:
        "../scripts/finetune_lora.py"


rule score_lora:
    input:
        adapter=paths.ADAPTER,
        graded=answers_of(),
        model=paths.MODEL,
        lib=library("score_lora.py"),
    output:
        paths.LORA_SCORES,
    log:
        "logs/{experiment}/score_lora/{model}/on~{train_set}/n~{n_train}/seed~{seed}/scored~{source}/{split}.log",
    benchmark:
        "benchmarks/{experiment}/score_lora/{model}/on~{train_set}/n~{n_train}/seed~{seed}/scored~{source}/{split}.tsv"
    wildcard_constraints:
        split=alternatives(SCORED),
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
    params:
        runtime=model_runtime,
        query=lambda wc: {
            k: lora_params(config, wc.model)[k]
            for k in ("max_length", "score_batch_size")
        },
    script:
        "../scripts/score_lora.py"
