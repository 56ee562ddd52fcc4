rule finetune_lora:
    input:
        model="results/models/{model}/model.json",
        train="results/graded/{source}/train.parquet",
        lib=library("finetune_lora.py"),
    output:
        adapter="results/lora/{model}/on~{source}/adapter_model.safetensors",
        config="results/lora/{model}/on~{source}/adapter_config.json",
    log:
        "logs/finetune_lora/{model}/on~{source}.log",
    benchmark:
        "benchmarks/finetune_lora/{model}/on~{source}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
    params:
        runtime=model_runtime,
        lora=lambda wc: lora_params(config, wc.model),
        seed=config["seed"],
    script:
        "../scripts/finetune_lora.py"


rule score_query:
    input:
        unpack(query_inputs),
        model="results/models/{model}/model.json",
        lib=library("score_query.py"),
    output:
        "results/scores/{method}/{model}/on~{source}.parquet",
    log:
        "logs/score_query/{method}/{model}/on~{source}.log",
    benchmark:
        "benchmarks/score_query/{method}/{model}/on~{source}.tsv"
    wildcard_constraints:
        method="lora|zero_shot",
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
        "../scripts/score_query.py"
