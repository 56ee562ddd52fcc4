from crossprobe.contract.splits import dataset_files, split_params


rule prepare_model:
    input:
        unpack(lambda wc: dag.local_weight_files(config, wc.model)),
        lib=library("intake/prepare_model.py"),
    output:
        paths.MODEL,
    log:
        paths.log("prepare_model", paths.MODEL),
    benchmark:
        paths.benchmark("prepare_model", paths.MODEL)
    # where the internet is: hub downloads, LLaMA-2's token
    localrule: True
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        # a local rule (it reaches the hub): what converting a GGUF file needs on a CPU
        mem_mb=growing(first_mem_mb(config["resources"]) or CPU_MODEL_MEM_MB),
        runtime=growing(config["resources"]["model_runtime"]),
    params:
        weights=lambda wc: config["models"][wc.model]["weights"],
    script:
        "../scripts/intake/prepare_model.py"


rule prepare_questions:
    input:
        tables=lambda wc: dataset_files(config["data"], wc.split),
        lib=library("intake/prepare_questions.py"),
    output:
        paths.QUESTIONS,
    log:
        paths.log("prepare_questions", paths.QUESTIONS),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        data=lambda wc: split_params(config["data"], config["seed"], wc.split),
    script:
        "../scripts/intake/prepare_questions.py"


rule import_answers:
    input:
        unpack(lambda wc: dag.answer_set_files(config, wc.source)),
        lib=library("intake/import_answers.py"),
    output:
        paths.IMPORTED,
    log:
        paths.log("import_answers", paths.IMPORTED),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        answer_set=lambda wc: dag.answer_set_params(config, wc.source, wc.split),
    script:
        "../scripts/intake/import_answers.py"


rule prepare_adapter:
    input:
        unpack(lambda wc: dag.local_adapter_files(config, wc.model)),
        model=paths.MODEL,
        lib=library("intake/prepare_adapter.py"),
    output:
        adapter=paths.ADAPTER,
        config=paths.ADAPTER_CONFIG,
    log:
        paths.log("prepare_adapter", paths.ADAPTER),
    # an adapter trained elsewhere stands in for the one its estimator would train on its own
    # answers (crossprobe.contract.grid.unserved); finetune_lora trains every other
    wildcard_constraints:
        model=dag.alternatives(RELEASED),
        train_set=dag.alternatives(RELEASED),
        n_train=paths.ALL,
    # where the internet is: hub downloads
    localrule: True
    conda:
        "../envs/models.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        adapter=lambda wc: RELEASED[wc.model],
        weights=lambda wc: config["models"][wc.model]["weights"],
    script:
        "../scripts/intake/prepare_adapter.py"
