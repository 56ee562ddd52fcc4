"""The judge of open answers: the paper's question, one BOS, verdicts remembered."""

import pandas as pd


class CountingGenerate:
    """Counts the prompts a model's generate() is asked to continue."""

    def __init__(self, model):
        self.model, self.prompts = model, 0

    def generate(self, **kwargs):
        self.prompts += kwargs["input_ids"].shape[0]
        return self.model.generate(**kwargs)


def test_the_judge_is_asked_the_papers_question_with_one_bos_and_remembers(tiny_models, tmp_path):
    from crossprobe.answers.grading import judge_texts, judged, prompt_problems
    from crossprobe.answers.judge import judge_answers, judge_ids
    from crossprobe.models.lm import load_model
    from crossprobe.models.store import FeatureStore
    from helpers import build_sentencepiece_tokenizer, build_tokenizer

    system, prompt = judge_texts({"system": None, "prompt": None})
    user = prompt.format(problem="Question: Capital of France?\nAnswer:", gold="Paris", answer="p")
    assert "The problem is: Question: Capital of France?\nAnswer:\n\n" in user
    assert "The correct answer for this problem is: Paris\n" in user
    assert "'New York City' is equivalent to 'NYC'" in user and user.endswith("explanation: ")
    assert system.startswith("You are an automated grading assistant")
    assert prompt_problems(prompt) == [] and prompt_problems("{problem} {answer} {x}") == [
        "names {x}",
        "lacks {gold}",
    ]
    # a chat template that writes its own BOS, as Mistral-Instruct's does: one BOS, not two
    bos_template = (
        "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}"
    )
    chat = build_sentencepiece_tokenizer()
    chat.chat_template = bos_template
    ids = judge_ids(chat, system, user)
    assert ids[0] == chat.bos_token_id and ids.count(chat.bos_token_id) == 1
    rendered = chat.apply_chat_template([{"role": "user", "content": user}], tokenize=False)
    assert chat(rendered)["input_ids"][:2] == [chat.bos_token_id] * 2  # what text + encode gave
    readable = build_tokenizer()  # byte-level: every character decodes as written
    readable.chat_template = chat.chat_template
    assert "[system] You are an automated" in readable.decode(judge_ids(readable, system, user))
    # a template without a system role: the system line opens the user message
    no_system = build_tokenizer()
    no_system.chat_template = (
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}"
        "{{ raise_exception('no system role') }}{% endif %}[INST] {{ m.content }} [/INST]"
        "{% endfor %}"
    )
    text = no_system.decode(judge_ids(no_system, system, user))
    assert text.count("[INST]") == 1 and "[INST] You are an automated grading" in text
    plain = build_tokenizer()
    assert plain.decode(judge_ids(plain, system, user)).endswith("explanation: \nReply:")
    assert judged("Yes.") and judged("yes, it is") and not judged("No") and not judged("Yesterday")

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    counting = CountingGenerate(model)
    table = pd.DataFrame(
        {"problem": ["Capital?", "Sum?"], "gold": ["Paris", "4"], "answer": ["paris", "5"]}
    )
    params = {"batch_size": 2, "max_new_tokens": 3, "system": None, "prompt": None}
    store = FeatureStore(tmp_path / "verdicts")
    first = judge_answers(counting, tokenizer, device, store, table, params)
    assert set(first) <= {0, 1} and counting.prompts == 2
    again = judge_answers(counting, tokenizer, device, store, table, params)
    assert again.tolist() == first.tolist() and counting.prompts == 2  # nothing judged twice
    reworded = {**params, "prompt": "Is {answer} the same as {gold}? {problem}"}
    judge_answers(counting, tokenizer, device, store, table, reworded)
    assert counting.prompts == 4  # another question to the judge: judged anew


def test_the_judges_whole_reply_is_read_not_its_first_line():
    """A judge that prefaces its verdict ("The proposed answer is correct.\nYes") is read as yes:
    the whole reply up to its stop token, where an answer keeps only its first line."""
    from crossprobe.answers.answering import answer_tokens
    from crossprobe.answers.grading import judged

    pieces = ["The", " proposed", " answer", " is", " correct", ".\n", "Yes", "<eos>", " no"]

    def decode(tokens):
        return "".join(pieces[t] for t in tokens)

    tokens, stop = list(range(len(pieces))), {pieces.index("<eos>")}
    reply, first, end = answer_tokens(tokens, decode, stop, whole=True)
    assert reply == "The proposed answer is correct.\nYes" and (first, end) == (0, 7)
    assert judged(reply)
    line, _, _ = answer_tokens(tokens, decode, stop)
    assert line == "The proposed answer is correct." and not judged(line)
