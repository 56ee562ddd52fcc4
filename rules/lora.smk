from crossprobe.contract.splits import SCORED


rule finetune_lora:
    input:
        model=paths.MODEL,
        answers=training_answers,
        lib=library("lora/finetune_lora.py"),
    output:
        adapter=task_output("finetune_lora"),
        config=paths.ADAPTER_CONFIG,
    log:
        paths.log("finetune_lora", paths.ADAPTER),
    benchmark:
        paths.benchmark("finetune_lora", paths.ADAPTER)
    # estimators with an adapter trained elsewhere train none (rule prepare_adapter)
    wildcard_constraints:
        model=dag.alternatives(m for m in config["models"] if m not in RELEASED),
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
    params:
        runtime=model_runtime,
        settings=task_settings("finetune_lora"),
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
        task_output("score_lora"),
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
        **MODEL_RESOURCES,
    params:
        runtime=model_runtime,
        settings=task_settings("score_lora"),
    script:
        "../scripts/lora/score_lora.py"
