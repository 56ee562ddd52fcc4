"""The paper presets themselves, run through Snakemake to the figure and tables: each is loaded
from configs/ and changed only where a CPU run without a hub must change it (crossprobe.stand_ins),
so an edit to a preset is exercised by the next test run."""

import json

import datasets
import pandas as pd
import pytest
import yaml

from crossprobe.job import provenance_path
from crossprobe.stand_ins import RELEASED_FEATURES, RELEASED_SPLITS, SIZES, cpu_preset
from helpers import (
    REPO,
    build_sentencepiece_tokenizer,
    build_tiny_model,
    make_workdir,
    run_workflow,
)

pytestmark = pytest.mark.slow

# Mistral-7B-Instruct-v0.2's chat template in miniature: it writes its own BOS and has no
# system role (a system message raises)
INSTRUCT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
    "[INST] {{ message['content'] }} [/INST]{% endfor %}"
)


@pytest.fixture(scope="module")
def weights(tiny_models, tmp_path_factory):
    tokenizer = build_sentencepiece_tokenizer()
    tokenizer.chat_template = INSTRUCT_TEMPLATE
    judge = build_tiny_model(tmp_path_factory.mktemp("judge") / "judge", tokenizer=tokenizer)
    return {"mistral": tiny_models["tiny_a"], "llama2": tiny_models["tiny_c"], "judge": judge}


def run_preset(name: str, weights: dict, tmp_path):
    config = cpu_preset(name, tmp_path / "sources", weights)
    workdir = make_workdir(tmp_path / "run", config)
    built = run_workflow(workdir)
    return workdir, config, built, workdir / "results" / config["experiment"]


def test_the_paper_preset_runs_on_the_released_sets_to_the_figure(weights, tmp_path):
    workdir, config, built, results = run_preset("paper", weights, tmp_path)
    # the stand-in of each released set has exactly the five columns and two splits of the cards
    for spec in config["answer_sets"].values():
        released = datasets.load_from_disk(spec["disk"])
        assert tuple(released) == RELEASED_SPLITS
        assert {s: dict(released[s].features) for s in released} == {
            s: {k: datasets.Value(v) for k, v in RELEASED_FEATURES.items()} for s in released
        }
    for name in ("heatmap.png", "heatmap.pdf", "contrasts.png"):
        assert (results / "figures" / name).stat().st_size > 5_000
    tables = {"grid.tsv", "grid.md", "contrasts.tsv", "graders.tsv", "graders.md"}
    assert {str(results.relative_to(workdir) / "tables" / t) for t in tables} <= built

    # training and calibration answers are the released ones, as the estimators saw them: the
    # 0-shot text context + target_prompt, the output unchanged
    released = datasets.load_from_disk(config["answer_sets"]["mistral_released"]["disk"])
    imported = pd.read_parquet(results / "imported/mistral/train.parquet")
    rows = released["train"].to_pandas()
    assert imported["prompt"].tolist() == (rows["context"] + rows["target_prompt"]).tolist()
    assert imported["answer"].tolist() == rows["output"].tolist()
    assert imported["correct"].tolist() == rows["query_label"].tolist()
    assert imported["gold"].tolist() == rows["target"].tolist()
    assert not imported["prompt"].str.contains("Now, answer").any()
    # MMLU-OE test texts are 5-shot, as the paper's: header, five examples, closing line; a
    # prompt too long for answers.max_length (the tiny tokenizer writes nearly a token per
    # character) lost whole examples, and the log says so
    questions = pd.read_parquet(results / "questions/test.parquet").set_index("question_id")
    assert len(questions) == SIZES["test"] and set(questions["dataset"]) == {"mmlu"}
    for prompt in questions["prompt"]:
        assert prompt.startswith("The following are questions (with answers) about ")
        assert prompt.count("Question: ") == 6
        assert "\n\nNow, answer the next question.\n\n" in prompt
    test = pd.read_parquet(results / "graded/mistral/test.parquet")
    shortened = 0
    for row in test.itertuples():
        asked = questions.loc[row.question_id]
        kept = [shot for shot in asked["shots"] if shot in row.prompt]
        framing = asked["prompt"].replace("".join(s + "\n\n" for s in asked["shots"]), "")
        assert row.prompt.replace("".join(s + "\n\n" for s in kept), "") == framing
        shortened += len(kept) < 5
    log = (workdir / "logs/paper/generate_answers/mistral/test.log").read_text()
    assert (f"{shortened} of {SIZES['test']} prompts are too long" in log) == (shortened > 0)

    # the judge graded the test answers and the released validation answers (to measure it)
    judged = pd.read_parquet(results / "judged/mistral.parquet")
    assert set(zip(judged["split"], judged["origin"], strict=True)) == {
        ("test", "generated"),
        ("calibration", "imported"),
    }
    graders = pd.read_csv(results / "tables/graders.tsv", sep="\t")
    assert set(graders["trained_on"]) == {"mistral", "llama2"}
    assert (graders["n"] == SIZES["calibration"]).all()
    counts = graders[["both_correct", "set_only", "judge_only", "both_wrong"]].sum(axis=1)
    assert (counts == graders["n"]).all()
    aurocs = pd.read_csv(results / "tables/graders_auroc.tsv", sep="\t")
    # each method's cells: the grid's four, the own estimators' two off the diagonal
    assert set(aurocs["method"]) == {"probe", "lora", "probe_own", "lora_own"}
    assert len(aurocs) == 2 * 4 + 2 * 2
    # LoRA + Prompt trained with the JS regulariser on the gold answers, at the preset's weight
    lora = json.loads(
        (
            results
            / "lora/mistral/on~llama2/n~all/seed~0/adapter_model.safetensors.provenance.json"
        ).read_text()
    )
    assert lora["params"]["js_weight"] == 1.0 and lora["params"]["js_tokens"] == "gold"
    # as the paper's code trains: every training answer (no hold-out), gradients clipped at
    # 1.0, the last adapter scored; the effective batch of 32 as one micro-batch, layers
    # recomputed only where a long text would not fit the card otherwise
    assert lora["training_answers"] == {"llama2": SIZES["train"]} and lora["held_out_losses"] == {}
    assert lora["kept_step"] == lora["steps"] and lora["params"]["max_grad_norm"] == 1.0
    assert lora["params"]["gradient_checkpointing"] == "auto"
    assert (lora["params"]["batch_size"], lora["params"]["grad_accum"]) == (32, 1)
    probe = json.loads(
        (
            results
            / "probes/answer/mistral/on~llama2/n~all/recipe~grid.safetensors.provenance.json"
        ).read_text()
    )["params"]
    assert probe["mlp"]["init"] == "xavier_normal" and not probe["mlp"]["early_stopping"]
    # the App. C.3 recipe (its step budget cut for the CPU) with a warm-up; every seed on the
    # training answers and on each of their bootstrap resamples, in one job
    assert probe["mlp"]["batch_size"] == 32 and probe["mlp"]["warmup_steps"] == 2
    assert sorted(map(tuple, probe["runs"])) == [(s, b) for s in range(3) for b in range(11)]
    recipes = pd.read_csv(results / "tables/recipes.tsv", sep="\t")
    assert set(recipes["recipe"]) == {"grid", "paper_readme", "crossprobe_default"}
    assert (results / "figures/recipes.png").stat().st_size > 5_000
    # the judge measured on the test set itself, per subject, against GPT-3.5's grades of the
    # paper's answers (configs/reference/)
    reference = pd.read_csv(results / "tables/graders_reference.tsv", sep="\t")
    asked = reference[reference["n"] > 0]
    assert set(asked["trained_on"]) == {"mistral", "llama2"}
    assert asked["n"].sum() == 2 * SIZES["test"] and asked["reference_accuracy"].notna().all()
    graders_md = (results / "tables/graders.md").read_text()
    assert "The judge against the reference grader on Mistral's test answers" in graders_md
    # the per-subject headline says what it rests on: 24 test answers give no subject 10
    markdown = (results / "tables/grid.md").read_text()
    assert "mean over 0 of" in markdown and "Warning: the headline rests on fewer than" in markdown
    log = (workdir / "logs/paper/aggregate/grid.log").read_text()
    assert "WARNING" in log and "mean over 0 of" in log


def test_the_generated_paper_preset_runs_on_hub_schemas_to_the_figure(weights, tmp_path):
    workdir, config, built, results = run_preset("paper-generated", weights, tmp_path)
    assert (results / "figures/heatmap.png").stat().st_size > 5_000
    assert (results / "tables/grid.tsv").exists()
    questions = pd.read_parquet(results / "questions/train.parquet")
    assert set(questions["dataset"]) <= set(config["data"]["datasets"])
    # 1-shot training answers (the paper's), read by the estimators 0-shot (as its code trains);
    # 5-shot MMLU-OE test questions
    answered = pd.read_parquet(results / "answers/llama2/train.parquet")
    assert all(p.count("Question: ") == 2 for p in answered["prompt"])
    read = pd.read_parquet(results / "graded/llama2/train.parquet").set_index("question_id")
    asked = questions.set_index("question_id").loc[read.index]
    assert read["prompt"].tolist() == [f"Question: {q}\nAnswer:" for q in asked["question"]]
    test = pd.read_parquet(results / "questions/test.parquet")
    assert all(p.count("Question: ") == 6 for p in test["prompt"])
    answers = json.loads((results / "answers/llama2/train.parquet.provenance.json").read_text())[
        "params"
    ]
    assert answers["max_new_tokens"] == 30 and answers["answer_format"] == "open"


def test_the_released_adapters_preset_scores_the_authors_adapters_without_training(
    weights, tmp_path
):
    workdir, config, built, results = run_preset("paper-released-adapters", weights, tmp_path)
    assert (results / "figures/heatmap.png").stat().st_size > 5_000
    assert not (workdir / "logs/paper-released-adapters/finetune_lora").exists()  # no training
    preset = yaml.safe_load((REPO / "configs/paper-released-adapters.yaml").read_text())
    for model in ("mistral", "llama2"):
        # the adapter in the authors' layout, written where the model's adapter trained on its
        # own answers would be, as peft writes ours; what it is and what was checked on record
        folder = results / f"lora/{model}/on~{model}/n~all/seed~0"
        released = json.loads(provenance_path(folder / "adapter_model.safetensors").read_text())[
            "released"
        ]
        assert released["source"] == config["models"][model]["lora"]["adapter"]
        assert released["base_model"] == preset["models"][model]["weights"]["hub"]
        # the CPU run's tiny models are local folders: no hub id to compare
        assert released["base_check"].startswith("not compared: models.")
        assert all(t["same_as_base"] for t in released["tables_left_out"].values())
        assert released["stands_in_for"].startswith(f"{model}'s LoRA + Prompt adapter trained")
        # scored on the query as ours are, the adapter's record carried on
        scored = json.loads(provenance_path(folder / f"scored~{model}/test.parquet").read_text())
        assert scored["adapter"]["released"]["sha256"] == released["sha256"]
        assert scored["rule"] == "score_lora"
    # LoRA + Prompt has the diagonal only; the off-diagonal cells say why they are n/a
    grid = pd.read_csv(results / "tables/grid.tsv", sep="\t")
    lora = grid[grid["method"] == "lora"]
    assert set(zip(lora["model"], lora["trained_on"], strict=True)) == {
        ("mistral", "mistral"),
        ("llama2", "llama2"),
    }
    assert len(grid[grid["method"] == "zero_shot"].groupby(["model", "trained_on"])) == 4
    markdown = (results / "tables/grid.md").read_text()
    adapter = config["models"]["mistral"]["lora"]["adapter"]["local"]
    assert "LLaMA-2: n/a (Mistral's LoRA + Prompt is an adapter trained elsewhere on " in markdown
    assert f"Mistral judging its own answers: an adapter trained elsewhere, {adapter}" in markdown
    scores = json.loads(provenance_path(results / "scores/lora/on~mistral.parquet").read_text())
    assert scores["params"]["adapters_trained_elsewhere"] == {
        "mistral": config["models"]["mistral"]["lora"]["adapter"]
    }
