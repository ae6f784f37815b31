"""Documents in prompts are budgeted in tokens of the model's context (the bundled SmolLM2's own tokenizer):
whole where they fit, cut at a token boundary where they do not, and prompt + answer never past max_model_len."""

from __future__ import annotations

import pytest

from fanno_spark.generate import prompts
from fanno_spark.llm.model_store import DEFAULT_MODEL, resolve_model
from fanno_spark.prompts.doc_budget import DocBudget

TAGS = {"task_type": "summarization", "difficulty": "creativity", "style": "command"}
PAGE = " ".join(f"Sentence {i} of a long web page about tides, harbours and the moon's pull on the sea." for i in range(900))


@pytest.fixture(scope="module")
def model_dir() -> str:
    return resolve_model(DEFAULT_MODEL)


def chat_tokens(model_dir: str, conversation: list[dict[str, str]]) -> int:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    text = tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    return len(tok(text, add_special_tokens=False)["input_ids"])


def test_short_document_is_whole_and_long_one_fills_the_context_exactly_to_its_budget(model_dir):
    budget = DocBudget(tokenizer=model_dir, context=2048, reserve=96)
    short = "Tides rise twice a day."
    assert short in prompts.seed_conversation(short, TAGS, budget)[-1]["content"]
    for style in ("fanno", "compact"):
        conv = prompts.seed_conversation(PAGE, TAGS, budget, style)
        user = conv[-1]["content"]
        kept = user.split("<document>\n", 1)[1].split("\n</document>", 1)[0]
        assert PAGE.startswith(kept) and 0.5 * len(PAGE) > len(kept) > 2000  # cut, on a token boundary
        used = chat_tokens(model_dir, conv)
        assert 2048 - 96 - 64 <= used <= 2048 - 96, used  # the chat template's own tokens fit in the margin


def test_cap_and_a_bigger_context_change_how_much_is_kept(model_dir):
    def kept(budget: DocBudget) -> int:
        return len(prompts.seed_conversation(PAGE, TAGS, budget)[-1]["content"])

    small, big = DocBudget(model_dir, 2048, 96), DocBudget(model_dir, 8192, 96)
    capped = DocBudget(model_dir, 8192, 96, cap=300)
    assert kept(capped) < kept(small) < kept(big)
    assert PAGE in prompts.seed_conversation(PAGE, TAGS, None)[-1]["content"]  # no budget: the whole document


def test_rag_documents_share_the_room_and_a_short_one_leaves_its_spare(model_dir):
    budget = DocBudget(model_dir, 2048, 384)
    neighbour = "A short neighbour about harbours."
    conv = prompts.respond_rag_conversation("Explain tides.", PAGE, neighbour, budget)
    assert neighbour in conv[-1]["content"] and chat_tokens(model_dir, conv) <= 2048 - 384
    both_long = prompts.respond_rag_conversation("Explain tides.", PAGE, PAGE, budget)
    docs = both_long[-1]["content"].split("<document>\n")[1:]
    first, second = (d.split("\n</document>")[0] for d in docs)
    assert abs(len(first) - len(second)) < 200 and chat_tokens(model_dir, both_long) <= 2048 - 384


def test_without_a_tokenizer_the_estimate_is_conservative():
    budget = DocBudget(tokenizer="served-model-name", context=2048, reserve=96)
    conv = prompts.seed_conversation(PAGE, TAGS, budget)
    assert sum(len(m["content"]) for m in conv) < 3 * 2048 + 200  # three characters a token at most
