rule generate_answers:
    input:
        model=paths.MODEL,
        questions=paths.QUESTIONS,
        lib=library("answers/generate_answers.py"),
    output:
        task_output("generate_answers"),
    log:
        paths.log("generate_answers", paths.ANSWERS),
    benchmark:
        paths.benchmark("generate_answers", paths.ANSWERS)
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
    params:
        runtime=model_runtime,
        settings=task_settings("generate_answers"),
    script:
        "../scripts/answers/generate_answers.py"


rule judge_answers:
    input:
        answers=lambda wc: judged_files(paths.ANSWERS, wc, "generated"),
        questions=lambda wc: judged_files(paths.QUESTIONS, wc, "generated"),
        imported=lambda wc: judged_files(paths.IMPORTED, wc, "imported"),
        model=target(paths.MODEL, model=JUDGE)[0] if JUDGE else [],
        lib=library("answers/judge_answers.py"),
    output:
        task_output("judge_answers"),
    log:
        paths.log("judge_answers", paths.JUDGED),
    benchmark:
        paths.benchmark("judge_answers", paths.JUDGED)
    conda:
        "../envs/models.yaml"
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
    params:
        runtime=dag.runtime_params(config, JUDGE) if JUDGE else None,
        settings=task_settings("judge_answers"),
        splits=lambda wc: grid.judged_splits(config, wc.source),
        seed=config["seed"],
        store=target(paths.JUDGE_STORE)[0],
    script:
        "../scripts/answers/judge_answers.py"


rule grade_answers:
    input:
        unpack(judge_inputs),
        answers=lambda wc: fill(paths.ANSWERS, wc, model=wc.source),
        questions=paths.QUESTIONS,
        lib=library("answers/grade_answers.py"),
    output:
        paths.GRADED,
    log:
        paths.log("grade_answers", paths.GRADED),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        **LIGHT_RESOURCES,
    params:
        answer_format=config["data"]["answer_format"],
        estimator_shots=lambda wc: config["data"]["splits"][wc.split]["estimator_shots"],
        # the judge's identity: changing it re-grades (the verdicts are read as `ancient`)
        judge=(
            {**config["grading"], "weights": config["models"][JUDGE]["weights"]}
            if JUDGE
            else None
        ),
    script:
        "../scripts/answers/grade_answers.py"
