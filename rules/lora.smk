from crossprobe.contract.splits import SCORED


rule finetune_lora:
    input:
        model=paths.MODEL,
        answers=training_answers,
        lib=library("lora/finetune_lora.py"),
    output:
        adapter=paths.ADAPTER,
        config=paths.ADAPTER_CONFIG,
    log:
        paths.log("finetune_lora", paths.ADAPTER),
    benchmark:
        paths.benchmark("finetune_lora", paths.ADAPTER)
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
        lora=lambda wc: stages.lora_training_params(config, wc),
        training=training,
        # not an output: a retry of a job killed at its time limit resumes from it
        checkpoint=lambda wc: fill(paths.ADAPTER_DIR, wc) + ".resume",
    script:
        "../scripts/lora/finetune_lora.py"


rule score_lora:
    input:
        adapter=paths.ADAPTER,
        graded=answers_of(),
        model=paths.MODEL,
        lib=library("lora/score_lora.py"),
    output:
        paths.LORA_SCORES,
    log:
        paths.log("score_lora", paths.LORA_SCORES),
    benchmark:
        paths.benchmark("score_lora", paths.LORA_SCORES)
    wildcard_constraints:
        split=dag.alternatives(SCORED),
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
        query=lambda wc: stages.lora_scoring_params(config, wc),
    script:
        "../scripts/lora/score_lora.py"
