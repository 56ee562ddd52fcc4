"""The config checks that need more than the schema: every stage's contract (models and their
weights, methods and formats, the judge, answer sets, datasets and split sizes), checked before
any job runs; each problem names its key. Imported only by the workflow."""

from crossprobe.answers.grading import prompt_problems
from crossprobe.contract.config import ConfigError, lora_params
from crossprobe.contract.formats import FORMATS, answer_format
from crossprobe.contract.grid import (
    agreement_splits,
    answer_set,
    cells,
    columns,
    display_names,
    grid_models,
    imported_splits,
    released_adapters,
)
from crossprobe.contract.methods import METHODS
from crossprobe.contract.paths import GRID_RECIPE
from crossprobe.contract.splits import SPLITS, TRAIN, earlier, selection_split
from crossprobe.evaluation.graders import read_reference
from crossprobe.intake.adapters import check_adapter
from crossprobe.intake.external import (
    TableError,
    check_columns,
    mapped_columns,
    read_file,
)
from crossprobe.intake.questions import Catalogue
from crossprobe.intake.shipped import DATASETS
from crossprobe.intake.weights import WeightsError, check_weights


def mapped(spec: dict) -> list[str]:
    return [c for v in spec["columns"].values() for c in mapped_columns(v)]


def check_models(config: dict) -> list[str]:
    problems = []
    models, sets = config["models"], config["answer_sets"]
    grid = grid_models(config)
    if len(grid) < 2:
        problems.append(
            f"models: {len(grid)} model(s) in the grid (expected at least 2 with in_grid: true)"
        )
    for key, spec in models.items():
        try:
            check_weights(f"models.{key}.weights", spec["weights"])
        except WeightsError as err:
            problems.append(str(err))
        if spec["answers_from"] is not None and spec["answers_from"] not in sets:
            problems.append(
                f"models.{key}.answers_from: {spec['answers_from']!r} is not a key of answer_sets "
                f"(expected one of {', '.join(sets) or 'none defined'})"
            )
    for key in sorted(set(models) & set(sets)):
        problems.append(f"answer_sets.{key}: a model has this id (expected an id of its own)")
    for key, spec in sets.items():
        if spec["in_grid"] and set(spec["splits"]) != set(SPLITS):
            problems.append(
                f"answer_sets.{key}.splits: a column needs train, calibration and test, got "
                f"{sorted(spec['splits'])} (expected all three, or in_grid: false and "
                "models.<id>.answers_from)"
            )
    names = display_names(config)
    shown = list(names.values())
    for name in sorted({n for n in shown if shown.count(n) > 1}):
        holders = [c for c, n in names.items() if n == name]
        section = "models" if holders[1] in models else "answer_sets"
        problems.append(
            f"{section}.{holders[1]}.display_name: {name!r} is also the name of {holders[0]} "
            "(expected a name of its own: the figure's axes would collide)"
        )
    return problems


def check_adapters(config: dict) -> list[str]:
    """Adapters trained elsewhere (`models.<id>.lora.adapter`): an estimator's own, of its base
    model (a local one checked here, a hub one where prepare_adapter downloads it), standing in
    for its one adapter trained on its own answers, and for no training the grid would run."""
    problems = []
    if config["lora"]["adapter"]:
        problems.append(
            "lora.adapter: set for every estimator, but an adapter is trained on one base "
            "model (expected models.<id>.lora.adapter)"
        )
    released = released_adapters(config)
    tuned = [m for m in config["methods"] if m in METHODS and METHODS[m].scorer == "lora"]
    swept = set(tuned) & set(config["sweep"]["methods"] if config["sweep"]["train_sizes"] else [])
    for model, spec in config["models"].items():
        key = f"models.{model}.lora.adapter"
        if not spec.get("lora", {}).get("adapter"):
            continue
        if model not in released:
            problems.append(f"{key}: {model} is not in the grid (expected an estimator's)")
            continue
        try:
            check_adapter(released[model], spec["weights"], key, f"models.{model}.weights")
        except WeightsError as err:
            problems.append(str(err))
        seeds = lora_params(config, model)["seeds"]
        if len(seeds) > 1:
            problems.append(
                f"models.{model}.lora.seeds: {seeds} train {len(seeds)} adapters, but {key} is "
                f"one trained elsewhere (expected one seed, e.g. models.{model}.lora.seeds: "
                f"[{seeds[0]}])"
            )
        for method in [m for m in tuned if METHODS[m].pooled]:
            problems.append(
                f"methods: {method!r} trains {model}'s LoRA + Prompt on every column's answers, "
                f"but {key} is an adapter trained elsewhere (expected {method} out of methods, "
                "or no adapter)"
            )
        for method in sorted(swept):
            problems.append(
                f"sweep.methods: {method!r} trains {model}'s LoRA + Prompt on subsets of "
                f"answers, but {key} is an adapter trained elsewhere (expected {method} out of "
                "sweep.methods, or no adapter)"
            )
    return problems


def check_methods(config: dict) -> list[str]:
    problems = []
    known = set(config["models"]) | set(config["answer_sets"])
    for name in config["figure"]["order"]:
        if name not in known:
            problems.append(
                f"figure.order: {name!r} is not a model or answer set id "
                f"(expected some of {', '.join(sorted(known))})"
            )
    for method in config["methods"]:
        if method not in METHODS:
            problems.append(
                f"methods: {method!r} is not a method (expected one of {', '.join(METHODS)})"
            )
        elif not cells(config, method):
            problems.append(
                f"methods: {method!r} has no cell in this grid "
                f"(it needs {', '.join(sorted(METHODS[method].needs))}; "
                f"data.answer_format is {config['data']['answer_format']!r})"
            )
    judge = config["grading"]["judge"]
    if judge is not None and judge not in config["models"]:
        problems.append(
            f"grading.judge: {judge!r} is not a key of models "
            f"(expected one of {', '.join(config['models'])})"
        )
    fmt = config["data"]["answer_format"]
    if judge is not None and not answer_format(fmt).judged:
        written = ", ".join(f.name for f in FORMATS.values() if f.judged)
        problems.append(
            f"grading.judge: set, but {fmt!r} answers pick an option; only written answers are "
            f"judged (expected data.answer_format: {written})"
        )
    return problems


def check_figure(config: dict) -> list[str]:
    problems = []
    for method in config["figure"]["methods"]:
        if method not in METHODS:
            problems.append(
                f"figure.methods: {method!r} is not a method (expected some of "
                f"{', '.join(config['methods'])})"
            )
    low, high = config["figure"]["auroc_limits"]
    if low >= high:
        problems.append(
            f"figure.auroc_limits: [{low}, {high}] is not a range (expected the lower end first)"
        )
    return problems


def mlp_recipes(probe: dict) -> list[tuple[str, dict]]:
    """(config key, recipe) of every MLP recipe: the grid's and each variant's."""
    variants = [(f"probe.variants[{i}].mlp", v["mlp"]) for i, v in enumerate(probe["variants"])]
    return [("probe.mlp", probe["mlp"]), *variants]


def check_probe(config: dict) -> list[str]:
    """Each recipe's warm-up inside its step budget; the variants named once each, never as the
    grid's own recipe, of an MLP probe, and refitting a configured method."""
    probe, problems = config["probe"], []
    for key, recipe in mlp_recipes(probe):
        if recipe["warmup_steps"] >= recipe["max_steps"]:
            problems.append(
                f"{key}.warmup_steps: {recipe['warmup_steps']} is not below max_steps "
                f"{recipe['max_steps']} (expected a warm-up shorter than the step budget)"
            )
    names = [v["name"] for v in probe["variants"]]
    for i, name in enumerate(names):
        if name == GRID_RECIPE or name in names[:i]:
            what = "the grid's own recipe" if name == GRID_RECIPE else "an earlier variant"
            problems.append(
                f"probe.variants[{i}].name: {name!r} names {what} (expected a name of its own)"
            )
    if names and probe["kind"] != "mlp":
        problems.append(
            f"probe.variants: MLP recipes, but probe.kind is {probe['kind']!r} (expected "
            "probe.kind: mlp, or no variants)"
        )
    refitted = [m for m in config["methods"] if m in METHODS and METHODS[m].recipes]
    if names and not refitted:
        known = ", ".join(m for m, spec in METHODS.items() if spec.recipes)
        problems.append(
            f"probe.variants: no method of methods is fitted with them (expected {known} in "
            "methods, or no variants)"
        )
    return problems


def check_selection(config: dict) -> list[str]:
    """Where no training answers are held out (selection.fraction 0: every trained estimator
    keeps its last state, as the paper's code does), nothing may select on them."""
    if config["selection"]["fraction"] > 0:
        return []
    scorers = {METHODS[m].scorer for m in config["methods"] if m in METHODS}
    problems = []
    probe = config["probe"]
    if "probe" in scorers and probe["kind"] == "logistic":
        problems.append(
            "selection.fraction: 0 leaves no answers to pick the logistic probe's C on "
            "(expected > 0, or probe.kind: mlp)"
        )
    if "probe" in scorers:
        for key, recipe in mlp_recipes(probe):
            fitted = key != "probe.mlp" or probe["kind"] == "mlp"
            if fitted and recipe["early_stopping"]:
                problems.append(
                    f"selection.fraction: 0 leaves no answers for {key}.early_stopping "
                    f"(expected > 0, or {key}.early_stopping: false)"
                )
    selecting = [
        m
        for m in grid_models(config)
        if lora_params(config, m)["eval_every"] and m not in released_adapters(config)
    ]
    if "lora" in scorers and selecting:
        problems.append(
            f"selection.fraction: 0 leaves no answers to select {', '.join(selecting)}'s LoRA "
            "adapter on (expected > 0, or lora.eval_every: 0 to keep the last)"
        )
    return problems


# the shipped tables of another's results a config may name, and the columns each must have
REFERENCE_TABLES = {
    ("grading", "reference"): {"model", "subject", "n", "accuracy"},
    ("evaluation", "reference"): {"run", "model", "answers", "subject", "n", "auroc"},
}


def check_reference(config: dict) -> list[str]:
    """grading.reference and evaluation.reference: models of the grid, a readable table with the
    columns it needs, naming them; grading.reference also a judge to measure."""
    problems = []
    for (section, name), needed in REFERENCE_TABLES.items():
        if config[section][name]:
            problems += check_reference_table(config, f"{section}.{name}", needed)
    if config["grading"]["reference"] and not config["grading"]["judge"]:
        problems.append(
            "grading.reference: set, but there is no judge to measure (expected grading.judge)"
        )
    return problems


def check_reference_table(config: dict, key: str, columns: set) -> list[str]:
    section, name = key.split(".")
    reference = config[section][name]
    problems = [
        f"{key}.models.{m}: not a model of the grid (expected some of "
        f"{', '.join(grid_models(config))})"
        for m in reference["models"]
        if m not in grid_models(config)
    ]
    try:
        table = read_reference(reference["file"])
    except (OSError, ValueError) as err:
        return problems + [f"{key}.file: {reference['file']} cannot be read ({err})"]
    missing = columns - set(table.columns)
    if missing:
        return problems + [f"{key}.file: lacks the columns {sorted(missing)}"]
    problems += [
        f"{key}.models.{m}: {name!r} is not a model of {reference['file']} (expected one of "
        f"{', '.join(sorted(set(table['model'])))})"
        for m, name in reference["models"].items()
        if name not in set(table["model"])
    ]
    return problems


def check_grading(config: dict) -> list[str]:
    """The judge's prompt template, the graders' agreement and the gold answers the JS
    regulariser reads."""
    problems = []
    grading = config["grading"]
    if grading["prompt"]:
        wrong = prompt_problems(grading["prompt"])
        if wrong:
            problems.append(
                f"grading.prompt: {'; '.join(wrong)} (expected a template over {{problem}}, "
                "{gold} and {answer})"
            )
    if grading["agreement"]:
        split = grading["agreement"]["split"]
        if not grading["judge"]:
            problems.append(
                "grading.agreement: set, but there is no judge (expected grading.judge)"
            )
        elif not any(agreement_splits(config, c) for c in columns(config)):
            problems.append(
                f"grading.agreement.split: no column's {split} answers come from an answer set "
                "(expected a split that answer_sets provide, with their own labels)"
            )
    tuned = any(METHODS[m].scorer == "lora" for m in config["methods"] if m in METHODS)
    regularised = [
        m
        for m in grid_models(config)
        if lora_params(config, m)["js_weight"] > 0
        and lora_params(config, m)["js_tokens"] == "gold"
        and m not in released_adapters(config)
    ]
    for source in columns(config):
        name = answer_set(config, source)
        spec = config["answer_sets"].get(name or "")
        if spec is None or "gold" in spec["columns"]:
            continue
        if tuned and regularised and TRAIN in imported_splits(config, source):
            problems.append(
                f"answer_sets.{name}.columns.gold: not mapped, but {regularised[0]}'s LoRA "
                "regularises on gold answers (lora.js_tokens: gold, js_weight > 0; expected the "
                "column of correct answers, e.g. target)"
            )
        if agreement_splits(config, source):
            problems.append(
                f"answer_sets.{name}.columns.gold: not mapped, but the judge grades this set "
                "(grading.agreement) against its gold answers (expected e.g. target)"
            )
    return problems


def check_tables(config: dict) -> list[str]:
    """Local files of answer sets and datasets exist and have their mapped columns."""
    problems = []
    tables = [(f"answer_sets.{k}", v) for k, v in config["answer_sets"].items()]
    tables += [(f"data.datasets.{k}", v) for k, v in config["data"]["datasets"].items()]
    for key, spec in tables:
        if "file" in spec:
            try:
                check_columns(read_file(spec["file"], key), mapped(spec), spec, key)
            except TableError as err:
                problems.append(str(err))
    return problems


def check_sizes(data: dict) -> list[str]:
    """Each split's size against the questions its datasets can still supply (datasets on the
    hub are counted by the job that loads them)."""
    problems = []
    catalogue, specs = Catalogue(data["datasets"]), data["splits"]
    for split in SPLITS:
        spec = specs[split]
        sizes = [catalogue.size(d) for d in spec["datasets"]]
        if None in sizes:
            continue
        available = sum(sizes)
        consumed = sum(
            specs[e]["size"]
            for e in earlier(split)
            if set(specs[e]["datasets"]) <= set(spec["datasets"])
        )
        if spec["size"] > available - consumed:
            problems.append(
                f"data.splits.{split}.size: {spec['size']} questions asked, but "
                f"{spec['datasets']} have {available} of which earlier splits take {consumed} "
                f"(expected at most {available - consumed})"
            )
    return problems


def check_sweep(config: dict) -> list[str]:
    """Each sweep size below the training answers a generated column keeps after its
    selection hold-out (answer sets' sizes are known only once imported)."""
    generated = [c for c in grid_models(config) if TRAIN not in imported_splits(config, c)]
    if not generated or not config["sweep"]["train_sizes"]:
        return []
    answers = config["data"]["splits"][TRAIN]["size"]
    kept = len(
        selection_split([str(i) for i in range(answers)], config["selection"]["fraction"], 0)[0]
    )
    return [
        f"sweep.train_sizes: {size} training answers asked, but the columns "
        f"{', '.join(generated)} keep {kept} of their {answers} after the selection hold-out "
        f"(expected sizes below {kept})"
        for size in config["sweep"]["train_sizes"]
        if size > kept
    ]


def check_format(config: dict) -> list[str]:
    fmt = config["data"]["answer_format"]
    if fmt in FORMATS:
        return []
    return [f"data.answer_format: {fmt!r} is not allowed (expected one of {', '.join(FORMATS)})"]


def check_config(config: dict) -> None:
    """What the schema cannot say, checked before any job runs; ConfigError naming the key."""
    problems = check_format(config)
    if problems:  # every later check reads the format
        raise ConfigError("\n".join(problems))
    problems = check_models(config) + check_adapters(config) + check_methods(config)
    problems += check_tables(config)
    problems += check_grading(config) + check_reference(config)
    problems += check_figure(config) + check_probe(config) + check_selection(config)
    if not problems:
        try:
            check_data_params(config["data"])
        except ValueError as err:
            problems.append(str(err))
        else:
            problems += check_sizes(config["data"]) + check_sweep(config)
    if problems:
        raise ConfigError("\n".join(problems))


def check_data_params(data: dict) -> None:
    """Raise ValueError naming the config key when a split names an unknown dataset, or one
    that the answer format cannot ask (open answers can ask any: multiple-choice questions are
    then asked without their options, as in MMLU-OE)."""
    catalogue = Catalogue(data.get("datasets"))
    for name in data.get("datasets", {}):
        if name in DATASETS:
            raise ValueError(
                f"data.datasets.{name}: a shipped dataset has this name (expected another id)"
            )
    for split in SPLITS:
        for name in data["splits"][split]["datasets"]:
            if not catalogue.known(name):
                raise ValueError(
                    f"data.splits.{split}.datasets: {name!r} is neither a shipped dataset "
                    f"({', '.join(DATASETS)}) nor an id of data.datasets"
                )
            picks = answer_format(data["answer_format"]).picks_option
            if picks and not catalogue.has_options(name):
                raise ValueError(
                    f"data.splits.{split}.datasets: {name!r} has no options, but "
                    f"data.answer_format {data['answer_format']!r} needs multiple-choice datasets"
                )
