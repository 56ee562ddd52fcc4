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
        tables=lambda wc: dataset_files(config["data"], wc.split),
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
        answers=lambda wc: answering_params(config, wc.split),
    script:
        "../scripts/generate_answers.py"


rule judge_answers:
    input:
        answers=lambda wc: judged_files(paths.ANSWERS, wc, "generated"),
        questions=lambda wc: judged_files(paths.QUESTIONS, wc, "generated"),
        imported=lambda wc: judged_files(paths.IMPORTED, wc, "imported"),
        judge=target(paths.MODEL, model=JUDGE) if JUDGE else [],
        lib=library("judge_answers.py"),
    output:
        paths.JUDGED,
    log:
        "logs/{experiment}/judge_answers/{source}.log",
    benchmark:
        "benchmarks/{experiment}/judge_answers/{source}.tsv"
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime_min,
        gpu=MODEL_GPUS,
    params:
        runtime=runtime_params(config, JUDGE) if JUDGE else None,
        grading=lookup(dpath="grading", within=config),
        splits=lambda wc: judged_splits(config, wc.source),
        seed=config["seed"],
        store=target(paths.JUDGE_STORE)[0],
    script:
        "../scripts/judge_answers.py"


rule grade_answers:
    input:
        unpack(judge_inputs),
        answers=lambda wc: fill(paths.ANSWERS, wc, model=wc.source),
        questions=paths.QUESTIONS,
        lib=library("grade_answers.py"),
    output:
        paths.GRADED,
    log:
        "logs/{experiment}/grade_answers/{source}/{split}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        answer_format=config["data"]["answer_format"],
        # the judge's identity: changing it re-grades (the verdicts are read as `ancient`)
        judge=(
            {**config["grading"], "weights": config["models"][JUDGE]["weights"]}
            if JUDGE
            else None
        ),
    script:
        "../scripts/grade_answers.py"


rule import_answers:
    input:
        unpack(lambda wc: answer_set_files(wc.source)),
        lib=library("import_answers.py"),
    output:
        paths.IMPORTED,
    log:
        "logs/{experiment}/import_answers/{source}/{split}.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime_min,
    params:
        answer_set=lambda wc: answer_set_params(config, wc.source, wc.split),
    script:
        "../scripts/import_answers.py"
