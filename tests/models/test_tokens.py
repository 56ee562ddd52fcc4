"""Whatever text a model scores is tokenised as the model sees the whole string, for byte-level
BPE (GPT-2, SmolLM2) and sentencepiece-style (Llama, Mistral) tokenizers alike."""

import pytest

from crossprobe.answers.answering import cloze_tokens
from crossprobe.contract.prompts import QUERY_SUFFIX, answered_text, query_text
from crossprobe.lora.texts import query_sequences
from crossprobe.models.tokens import next_token_ids, query_choice_ids
from crossprobe.reads.activations import read_tokens
from helpers import build_sentencepiece_tokenizer, build_tokenizer

PROMPT = (
    "The following are questions (with answers) about physics.\n\n"
    "Question: Which gas do plants absorb from the air?\nAnswer:"
)
ANSWER = "carbon dioxide"


@pytest.fixture(params=["byte-level", "sentencepiece"])
def tokenizer(request):
    return build_tokenizer() if request.param == "byte-level" else build_sentencepiece_tokenizer()


def whole(tokenizer, text):
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def test_the_fixture_reproduces_the_sentencepiece_pitfall():
    """Tokenised on its own, the query suffix starts with a spurious "▁" token."""
    sp = build_sentencepiece_tokenizer()
    alone = sp(QUERY_SUFFIX, add_special_tokens=False)["input_ids"]
    assert sp.convert_ids_to_tokens(alone)[0] == "▁"
    assert whole(sp, answered_text(PROMPT, ANSWER)) + alone != whole(sp, query_text(PROMPT, ANSWER))


def test_query_text_tokens_are_those_of_the_whole_string(tokenizer):
    seqs, spans = query_sequences(tokenizer, [PROMPT], [ANSWER], None)
    assert seqs[0] == whole(tokenizer, query_text(PROMPT, ANSWER))
    back, stop = spans[0]
    answered = whole(tokenizer, answered_text(PROMPT, ANSWER))
    prompt = whole(tokenizer, PROMPT)
    assert back - stop == len(answered) - len(prompt)
    ids, question_end, answer_end = read_tokens(tokenizer, PROMPT, ANSWER, None)
    assert ids == seqs[0] and ids[: answer_end + 1] == answered
    assert ids[: question_end + 1] == prompt  # the control's read never sees the answer


def test_query_answer_tokens_are_read_as_written_after_the_query(tokenizer):
    no, yes = query_choice_ids(tokenizer)
    for choice, token in ((" i", no), (" ii", yes)):
        full = whole(tokenizer, QUERY_SUFFIX + choice)
        assert full[:-1] == whole(tokenizer, QUERY_SUFFIX) and full[-1] == token


def test_cloze_options_are_tokenised_with_their_prompt(tokenizer):
    options = ["carbon dioxide", "water", "the light"]
    prefix, tails, own = cloze_tokens(tokenizer, PROMPT, options, None)
    for option, tail, n in zip(options, tails, own, strict=True):
        full = whole(tokenizer, f"{PROMPT} {option}")
        assert prefix + tail == full
        assert full[: len(full) - n] == whole(tokenizer, PROMPT)


def test_letters_are_the_tokens_written_after_the_prompt(tokenizer):
    letters = next_token_ids(tokenizer, "Answer:", [" A", " B", " C", " D"], "letters")
    for letter, token in zip("ABCD", letters, strict=True):
        assert whole(tokenizer, f"{PROMPT} {letter}")[-1] == token
