"""The results path scheme: one template per artifact, filled in by rules, input functions and
adapters alike. Every experiment (config key `experiment`) has its own tree.

{model}: an estimator (or any model that runs); {source}: whose graded answers (a column of the
grid, "Trained On"); {split}: train, calibration or test; {method}: a method of the registry;
{train_set}: the column a trained estimator learned from, or "all" (pooled over every column);
{n_train}: "all" its training answers, or a sweep size; {seed}: its training seed; {features}:
what a probe reads, "answer" or "question"; {recipe}: a probe's training recipe, "grid" (the
grid's own, `probe.mlp`) or the name of one of `probe.variants`. A probe file holds every fit of
one estimator: each training seed, on its training answers and on each bootstrap resample of
them.
"""

RESULTS = "results/{experiment}"
MODEL = RESULTS + "/models/{model}/model.json"
QUESTIONS = RESULTS + "/questions/{split}.parquet"
ANSWERS = RESULTS + "/answers/{model}/{split}.parquet"
GRADED = RESULTS + "/graded/{source}/{split}.parquet"
IMPORTED = RESULTS + "/imported/{source}/{split}.parquet"  # labelled answers from an answer set
JUDGED = RESULTS + "/judged/{source}.parquet"  # a judge's verdicts on one column's answers
JUDGE_STORE = RESULTS + "/judged/store"
READS = RESULTS + "/activations/{model}/on~{source}/{split}.safetensors"
STORE = RESULTS + "/activations/{model}/store"
ESTIMATOR = "{model}/on~{train_set}/n~{n_train}"
TRAINED = ESTIMATOR + "/seed~{seed}"
PROBE = RESULTS + "/probes/{features}/" + ESTIMATOR + "/recipe~{recipe}.safetensors"
ADAPTER_DIR = RESULTS + "/lora/" + TRAINED
ADAPTER = ADAPTER_DIR + "/adapter_model.safetensors"
ADAPTER_CONFIG = ADAPTER_DIR + "/adapter_config.json"
LORA_SCORES = ADAPTER_DIR + "/scored~{source}/{split}.parquet"
SCORES = RESULTS + "/scores/{method}/on~{source}.parquet"
METRICS = RESULTS + "/metrics/on~{source}.tsv"
CONTRASTS = RESULTS + "/contrasts/on~{source}.tsv"
SWEEP = RESULTS + "/sweep/on~{source}.tsv"
RECIPES = RESULTS + "/recipes/on~{source}.tsv"
CURVES = RESULTS + "/curves/on~{source}.tsv"
CONSENSUS = RESULTS + "/consensus/on~{source}.tsv"  # cells split by estimator-source agreement
GRID = RESULTS + "/tables/grid.tsv"
GRID_MARKDOWN = RESULTS + "/tables/grid.md"
FINDINGS = RESULTS + "/tables/findings.md"  # sentences written from grid.tsv and contrasts.tsv
CONTRASTS_TABLE = RESULTS + "/tables/contrasts.tsv"
SWEEP_TABLE = RESULTS + "/tables/sweep.tsv"
RECIPES_TABLE = RESULTS + "/tables/recipes.tsv"
CURVES_TABLE = RESULTS + "/tables/curves.tsv"
CONSENSUS_TABLE = RESULTS + "/tables/consensus.tsv"
CONSENSUS_MARKDOWN = RESULTS + "/tables/consensus.md"
GRADERS_TABLE = RESULTS + "/tables/graders.tsv"  # the judge against an answer set's labels
GRADERS_AUROC = RESULTS + "/tables/graders_auroc.tsv"
GRADERS_MARKDOWN = RESULTS + "/tables/graders.md"
GRADERS_REFERENCE = RESULTS + "/tables/graders_reference.tsv"  # the judge against another's
REFERENCE_CELLS = RESULTS + "/tables/reference_cells.tsv"  # our cells beside the authors' runs
REFERENCE_SUBJECTS = RESULTS + "/tables/reference_cells_subjects.tsv"
REFERENCE_MARKDOWN = RESULTS + "/tables/reference_cells.md"
HEATMAP = RESULTS + "/figures/heatmap.png"
HEATMAP_PDF = RESULTS + "/figures/heatmap.pdf"
HEATMAP_ALL = RESULTS + "/figures/heatmap_all.png"  # every method; heatmap.* the headline ones
HEATMAP_ALL_PDF = RESULTS + "/figures/heatmap_all.pdf"
CONTRASTS_FIGURE = RESULTS + "/figures/contrasts.png"
SWEEP_FIGURE = RESULTS + "/figures/sweep.png"
RECIPES_FIGURE = RESULTS + "/figures/recipes.png"
RELIABILITY = RESULTS + "/figures/reliability/{method}.png"
RISK_COVERAGE = RESULTS + "/figures/risk_coverage/{method}.png"

ALL = "all"  # {train_set} of pooled estimators, {n_train} of the full training set
GRID_RECIPE = "grid"  # {recipe} of the grid's probes: probe.mlp (or the logistic head)


def wildcard_part(template: str) -> str:
    """What of an output's path names its job: the path below results/{experiment}/<artifact
    folder>/ without its extension, less a trailing fixed file name ("models/{model}/model.json"
    -> "{model}")."""
    parts = template.removeprefix(RESULTS + "/").split("/")[1:]
    parts[-1] = parts[-1].split(".")[0]
    if len(parts) > 1 and "{" not in parts[-1]:
        parts = parts[:-1]
    return "/".join(parts)


def log(rule: str, output: str) -> str:
    """The log of `rule`, whose output is `output`: it mirrors the output's path."""
    return f"logs/{{experiment}}/{rule}/{wildcard_part(output)}.log"


def benchmark(rule: str, output: str) -> str:
    """The benchmark file of `rule`, beside its log."""
    return f"benchmarks/{{experiment}}/{rule}/{wildcard_part(output)}.tsv"
