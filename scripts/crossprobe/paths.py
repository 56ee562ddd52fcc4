"""The results path scheme: one template per artifact, filled in by rules, input functions and
adapters alike. Every experiment (config key `experiment`) has its own tree.

{model}: an estimator (or any model that runs); {source}: whose graded answers (a column of the
grid, "Trained On"); {split}: train, calibration or test; {method}: a method of the registry.
"""

RESULTS = "results/{experiment}"
MODEL = RESULTS + "/models/{model}/model.json"
QUESTIONS = RESULTS + "/questions/{split}.parquet"
ANSWERS = RESULTS + "/answers/{model}/{split}.parquet"
GRADED = RESULTS + "/graded/{source}/{split}.parquet"
IMPORTED = RESULTS + "/imported/{source}/{split}.parquet"  # labelled answers from an answer set
JUDGED = RESULTS + "/judged/{model}.parquet"  # a judge's verdicts on one model's answers
JUDGE_STORE = RESULTS + "/judged/store"
READS = RESULTS + "/activations/{model}/on~{source}/{split}.safetensors"
STORE = RESULTS + "/activations/{model}/store"
PROBE = RESULTS + "/probes/{model}/on~{source}.safetensors"
ADAPTER_DIR = RESULTS + "/lora/{model}/on~{source}"
ADAPTER = ADAPTER_DIR + "/adapter_model.safetensors"
ADAPTER_CONFIG = ADAPTER_DIR + "/adapter_config.json"
LORA_SCORES = ADAPTER_DIR + "/{split}.parquet"
SCORES = RESULTS + "/scores/{method}/on~{source}.parquet"
METRICS = RESULTS + "/metrics/on~{source}.tsv"
GRID = RESULTS + "/tables/grid.tsv"
GRID_MARKDOWN = RESULTS + "/tables/grid.md"
HEATMAP = RESULTS + "/figures/heatmap.png"
HEATMAP_PDF = RESULTS + "/figures/heatmap.pdf"
