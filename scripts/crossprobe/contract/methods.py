"""The method registry: what each method of the grid is and what it needs, defined once.

Torch- and plotnine-free: the workflow reads it while it builds the DAG. Wildcard constraints,
input functions, cells, titles, the grid tables, the figure and the tests all derive from it.
Adding a method is one entry here, the scorer kind that reads its log-odds
(`crossprobe.scores.scorers`, if none does yet) and its library function (for a baseline: a
function of `crossprobe.scores.baselines` with the method's name).
"""

from dataclasses import dataclass

from crossprobe.contract.paths import ALL

# What a column (a source of answers) can offer beyond graded answers; a method that needs one
# of these has no cell in a column that lacks it.
SOURCE_PROBABILITIES = "source_probabilities"  # the source model's option scores / answer log-probs
ESTIMATOR_ANSWERS = "estimator_answers"  # the estimator answered the same questions itself
OPTION_SCORES = "option_scores"  # multiple-choice option scores (not open-ended answers)

# What the estimator behind a trained method's cell (Model X, Trained On Y) learned from: Y's
# labelled answers (the cell's column), every column's, or X's own (the estimator of X's diagonal
# cell, reused, never retrained: the other reading of an off-diagonal cell, "X's estimator on
# Y's answers", as the paper's code scores another model's answers)
ON_COLUMN, ON_ALL, ON_OWN = "column", "all", "own"


@dataclass(frozen=True)
class Method:
    name: str
    title: str  # panel title in the figure and the tables
    scorer: str  # where raw P(correct) comes from: probe | query | lora | baseline
    trained: bool  # learns from training answers: has training seeds (and a size sweep)
    diagonal: bool = True  # has cells where the estimator judges its own answers
    self_only: bool = False  # only those cells: one value per column, drawn as one row
    needs: frozenset = frozenset()
    features: str = "answer"  # probes: the estimator's read at the answer, or at the question
    learns_from: str = ON_COLUMN  # trained methods: whose training answers (see ON_COLUMN)
    # refitted with each recipe of probe.variants beside its own (the recipe sensitivity)
    recipes: bool = False

    @property
    def pooled(self) -> bool:
        """Trained once on every column's training answers, scored per column."""
        return self.learns_from == ON_ALL

    def has_cell(self, model: str, source: str) -> bool:
        if self.self_only:
            return model == source
        return self.diagonal or model != source

    def train_set(self, model: str, source: str) -> str:
        """The {train_set} of the estimator behind cell (model, source)."""
        return {ON_COLUMN: source, ON_ALL: ALL, ON_OWN: model}[self.learns_from]


METHODS = {
    m.name: m
    for m in (
        Method("probe", "Probe", scorer="probe", trained=True, recipes=True),
        # the control: can the estimator tell correct answers from the question alone?
        Method(
            "probe_question",
            "Question-only probe",
            scorer="probe",
            trained=True,
            features="question",
        ),
        Method(
            "probe_pooled", "Probe, all sources", scorer="probe", trained=True, learns_from=ON_ALL
        ),
        # the diagonal cell's Probe on another model's answers; its diagonal is the Probe's
        Method(
            "probe_own",
            "Probe, own answers",
            scorer="probe",
            trained=True,
            diagonal=False,
            learns_from=ON_OWN,
        ),
        Method("lora", "LoRA + Prompt", scorer="lora", trained=True),
        Method(
            "lora_pooled",
            "LoRA + Prompt, all sources",
            scorer="lora",
            trained=True,
            learns_from=ON_ALL,
        ),
        Method(
            "lora_own",
            "LoRA + Prompt, own answers",
            scorer="lora",
            trained=True,
            diagonal=False,
            learns_from=ON_OWN,
        ),
        Method("zero_shot", "Zero-shot query", scorer="query", trained=False),
        Method(
            "source_confidence",
            "Source confidence",
            scorer="baseline",
            trained=False,
            self_only=True,
            needs=frozenset({SOURCE_PROBABILITIES}),
        ),
        # a model always agrees with itself: no diagonal
        Method(
            "agreement",
            "Agreement",
            scorer="baseline",
            trained=False,
            diagonal=False,
            needs=frozenset({ESTIMATOR_ANSWERS}),
        ),
        Method(
            "agreement_prob",
            "Agreement (prob.)",
            scorer="baseline",
            trained=False,
            diagonal=False,
            needs=frozenset({ESTIMATOR_ANSWERS, OPTION_SCORES}),
        ),
    )
}


def method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})") from None


def diagonal_method(name: str) -> str:
    """The method whose diagonal cell is `name`'s estimator judging its own answers: its own,
    or, for an estimator's own reading (no diagonal of its own), the method trained on the
    column whose diagonal estimator it reuses."""
    m = method(name)
    if m.learns_from != ON_OWN:
        return name
    for other in METHODS.values():
        if other.learns_from == ON_COLUMN and (other.scorer, other.features) == (
            m.scorer,
            m.features,
        ):
            return other.name
    raise ValueError(f"{name}: no method trained on the column reads as it does ({m.scorer})")


def title(name: str) -> str:
    return METHODS[name].title if name in METHODS else name


def cells(name: str, estimators, sources, offers: dict) -> list[tuple[str, str]]:
    """(estimator, source) cells of method `name`; `offers[source]` is the set of capabilities
    the column provides (see the constants above)."""
    m = method(name)
    # an estimator's own answers exist only where it generated them (its column offers them)
    own = ESTIMATOR_ANSWERS not in m.needs
    return [
        (e, s)
        for e in estimators
        for s in sources
        if m.has_cell(e, s)
        and m.needs <= offers.get(s, frozenset())
        and (own or ESTIMATOR_ANSWERS in offers.get(e, frozenset()))
    ]


def missing_reason(name: str, source: str, offers: dict) -> str | None:
    """Why method `name` has no cells in column `source`, or None if it has."""
    lacking = method(name).needs - offers.get(source, frozenset())
    if not lacking:
        return None
    return (
        f"{title(name)} needs {', '.join(sorted(lacking)).replace('_', ' ')}, "
        f"which the answers of {source} do not provide"
    )
