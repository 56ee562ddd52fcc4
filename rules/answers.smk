rule prepare_model:
    input:
        unpack(lambda wc: local_weight_files(wc.model)),
        lib=library("prepare_model.py"),
    output:
        paths.MODEL,
    log:
        "logs/{experiment}/prepare_model/{model}.log",
    benchmark:
        "benchmarks/{experiment}/prepare_model/{model}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
    params:
        weights=lambda wc: config["models"][wc.model]["weights"],
    script:
        "../scripts/prepare_model.py"


rule prepare_questions:
    input:
        lib=library("prepare_questions.py"),
    output:
        paths.QUESTIONS,
    log:
        "logs/{experiment}/prepare_questions/{split}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        data=lambda wc: split_params(config["data"], config["seed"], wc.split),
    script:
        "../scripts/prepare_questions.py"


rule generate_answers:
    input:
        model=paths.MODEL,
        questions=paths.QUESTIONS,
        lib=library("generate_answers.py"),
    output:
        paths.ANSWERS,
    log:
        "logs/{experiment}/generate_answers/{model}/{split}.log",
    benchmark:
        "benchmarks/{experiment}/generate_answers/{model}/{split}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
    params:
        runtime=model_runtime,
        answers=lookup(dpath="answers", within=config),
        answer_format=config["data"]["answer_format"],
    script:
        "../scripts/generate_answers.py"


rule grade_answers:
    input:
        unpack(
            lambda wc: (
                {"judge": target(paths.MODEL, model=JUDGE)[0]} if JUDGE else {}
            )
        ),
        answers=lambda wc: fill(paths.ANSWERS, wc, model=wc.source),
        questions=paths.QUESTIONS,
        lib=library("grade_answers.py"),
    output:
        paths.GRADED,
    log:
        "logs/{experiment}/grade_answers/{source}/{split}.log",
    localrule: not JUDGE
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS if JUDGE else 1
    resources:
        mem_mb=model_mem_mb if JUDGE else light_mem_mb,
        runtime=model_runtime_min if JUDGE else light_runtime_min,
        gpu=MODEL_GPUS if JUDGE else 0,
    params:
        answer_format=config["data"]["answer_format"],
        judge=lambda wc: (
            {**runtime_params(config, JUDGE), **config["grading"]} if JUDGE else None
        ),
    script:
        "../scripts/grade_answers.py"
