rule prepare_model:
    input:
        lib=library("prepare_model.py"),
    output:
        "results/models/{model}/model.json",
    log:
        "logs/prepare_model/{model}.log",
    benchmark:
        "benchmarks/prepare_model/{model}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
    params:
        source=lambda wc: config["models"][wc.model]["source"],
    script:
        "../scripts/prepare_model.py"


rule prepare_questions:
    input:
        lib=library("prepare_questions.py"),
    output:
        expand("results/questions/{split}.parquet", split=SPLITS),
    log:
        "logs/prepare_questions/questions.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        data=lookup(dpath="data", within=config),
        seed=config["seed"],
    script:
        "../scripts/prepare_questions.py"


rule generate_answers:
    input:
        model="results/models/{model}/model.json",
        questions=expand("results/questions/{split}.parquet", split=SPLITS),
        lib=library("generate_answers.py"),
    output:
        expand("results/answers/{{model}}/{split}.parquet", split=SPLITS),
    log:
        "logs/generate_answers/{model}.log",
    benchmark:
        "benchmarks/generate_answers/{model}.tsv"
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
                {"judge": f"results/models/{JUDGE}/model.json"} if JUDGE else {}
            )
        ),
        answers="results/answers/{model}/{split}.parquet",
        questions="results/questions/{split}.parquet",
        lib=library("grade_answers.py"),
    output:
        "results/graded/{model}/{split}.parquet",
    log:
        "logs/grade_answers/{model}/{split}.log",
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
