# crossprobe: which language model can tell when another model is wrong?
# (Kapoor et al. 2024, Fig. 5 centre, for any Hugging Face causal LMs.)
#
# A config file is a whole experiment: `snakemake --configfile X` runs X alone (config.yaml is
# read only when no --configfile is given) and writes under results/<experiment>/.
#
# Rule files, adapters and library code share their stage's name: rules/<stage>.smk,
# scripts/<stage>/<verb>_<object>.py, scripts/crossprobe/<stage>/ (intake, answers, reads, lora,
# scores, evaluation, figures; scripts/crossprobe/contract/ is what every stage agrees on).
#
# Results path scheme (scripts/crossprobe/contract/paths.py; docs/outputs.md says what each holds;
# tests/contract/test_paths.py checks this list against paths.py). {model} = estimator, {source}
# = whose answers it judges, "Trained On"; {split} = train, calibration, test; {train_set} a
# column or "all" (pooled), {n_train} "all" or a sweep size; {recipe} "grid" (probe.mlp) or a
# probe.variants name; {features} = answer or question:
#   results/{experiment}/models/{model}/model.json                   prepare_model
#   results/{experiment}/questions/{split}.parquet                   prepare_questions
#   results/{experiment}/answers/{model}/{split}.parquet             generate_answers
#   results/{experiment}/judged/{source}.parquet                     judge_answers (with a judge)
#   results/{experiment}/graded/{source}/{split}.parquet             grade_answers
#   results/{experiment}/imported/{source}/{split}.parquet           import_answers (answer sets)
#   results/{experiment}/activations/{model}/on~{source}/{split}.safetensors    cache_activations
#   results/{experiment}/probes/{features}/{model}/on~{train_set}/n~{n_train}/recipe~{recipe}.safetensors
#   results/{experiment}/lora/{model}/on~{train_set}/n~{n_train}/seed~{seed}/{adapter_model.safetensors,adapter_config.json}
#       finetune_lora, or prepare_adapter: an adapter trained elsewhere, at on~{model} (its own answers)
#   results/{experiment}/lora/{model}/on~{train_set}/n~{n_train}/seed~{seed}/scored~{source}/{split}.parquet
#   results/{experiment}/scores/{method}/on~{source}.parquet         score_column
#   results/{experiment}/{metrics,contrasts,sweep,recipes,curves,consensus}/on~{source}.tsv   evaluate_column
#   results/{experiment}/tables/{grid,contrasts,sweep,recipes,curves,consensus}.tsv   aggregate
#   results/{experiment}/tables/{grid,findings,consensus}.md         aggregate
#   results/{experiment}/tables/{graders.tsv,graders_auroc.tsv,graders.md,graders_reference.tsv}
#   results/{experiment}/tables/{reference_cells.tsv,reference_cells_subjects.tsv,reference_cells.md}
#   results/{experiment}/figures/{heatmap,heatmap_all}.{png,pdf}     plot_heatmap
#   results/{experiment}/figures/{contrasts,sweep,recipes}.png       plot_contrasts, plot_sweep, plot_recipes
#   results/{experiment}/figures/{reliability,risk_coverage}/{method}.png     plot_curves
# Every output has a <output>.provenance.json beside it; logs and benchmarks mirror results
# under logs/{experiment}/<rule>/ and benchmarks/{experiment}/<rule>/ (paths.log, paths.benchmark).


from snakemake.utils import min_version

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/intake.smk"
include: "rules/answers.smk"
include: "rules/reads.smk"
include: "rules/lora.smk"
include: "rules/scores.smk"
include: "rules/evaluation.smk"
include: "rules/figures.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        target(paths.GRID),
        target(paths.HEATMAP),
        target(paths.CONTRASTS_FIGURE),
        target(paths.RELIABILITY, method=METHODS),
        target(paths.RISK_COVERAGE, method=METHODS),
        target(paths.SWEEP_FIGURE) if config["sweep"]["train_sizes"] else [],
        target(paths.RECIPES_FIGURE) if config["probe"]["variants"] else [],
        target(paths.GRADERS_TABLE) + target(paths.GRADERS_AUROC)
        if AGREEMENT_COLUMNS or REFERENCE_COLUMNS
        else [],
        target(paths.REFERENCE_MARKDOWN) if REFERENCE_SCORES else [],


# what comes from the hub (weights, datasets, answer sets, adapters), fetched where the internet is
rule download:
    input:
        target(paths.MODEL, model=list(config["models"])),
        target(paths.QUESTIONS, split=SPLITS),
        [
            grid.answers_path(config, s, x)
            for s in COLUMNS
            for x in grid.imported_splits(config, s)
        ],
        dag.released_adapter_files(config),


rule answers:
    input:
        dag.graded_tables(config),


rule probe:
    input:
        method_scores("probe"),


rule lora:
    input:
        method_scores("lora"),


rule figure:
    input:
        target(paths.HEATMAP),
        target(paths.HEATMAP_PDF),
        target(paths.HEATMAP_ALL),
        target(paths.CONTRASTS_FIGURE),
