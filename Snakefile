# crossprobe: which language model can tell when another model is wrong?
# (Kapoor et al. 2024, Fig. 5 centre, for any Hugging Face causal LMs.)
#
# Results path scheme ({model} = estimator, {source} = whose answers it judges, "Trained On"):
#   results/models/{model}/model.json                        prepare_model (GGUF: + checkpoint/)
#   results/questions/{split}.parquet                        prepare_questions (train, calibration, test)
#   results/answers/{model}/{split}.parquet                  generate_answers
#   results/graded/{model}/{split}.parquet                   grade_answers
#   results/activations/{model}/on~{source}.safetensors      cache_activations (+ {model}/store/)
#   results/probes/{model}/on~{source}.safetensors           fit_probe
#   results/lora/{model}/on~{source}/adapter_model.safetensors   finetune_lora
#   results/scores/{method}/{model}/on~{source}.parquet      score_probe, score_query, score_baseline
#   results/metrics/{method}/{model}/on~{source}.tsv         evaluate_cell
#   results/tables/grid.tsv, results/tables/grid.md          aggregate
#   results/figures/heatmap.png, results/figures/heatmap.pdf plot_heatmap
# Every output has a <output>.provenance.json beside it; logs mirror outputs under logs/<rule>/.


from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/answers.smk"
include: "rules/probe.smk"
include: "rules/lora.smk"
include: "rules/baselines.smk"
include: "rules/grid.smk"


rule all:
    default_target: True
    input:
        "results/tables/grid.tsv",
        "results/figures/heatmap.png",


rule answers:
    input:
        graded_tables(),


rule probe:
    input:
        score_tables("probe"),


rule lora:
    input:
        score_tables("lora"),


rule figure:
    input:
        "results/figures/heatmap.png",
        "results/figures/heatmap.pdf",
