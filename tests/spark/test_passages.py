"""Passages on Spark NLP's sentences: a long document cut only where a sentence starts (in English, Chinese,
Japanese, Arabic and Persian text), its passages tiling it exactly; a short one whole."""

import re

import pytest

from fanno_spark.prescreen.passages import sentence_starts, split_documents
from fanno_spark.prompts.doc_budget import DocBudget

pytestmark = pytest.mark.spark
BUDGET = DocBudget(tokenizer=None, context=0, reserve=0)  # 3 characters a token
END = re.compile(r"[.!?。！？؟۔]['\")\]」』”]*\s*$")  # a sentence's end, as each script writes it

DOCS = {
    "en": "The river floods every spring. Farmers wait for the water to recede! Do they rest in winter? " * 6,
    "zh": "河水每年春天都会泛滥。农民等待洪水退去！他们冬天休息吗？" * 8,
    "ja": "川は毎年春に氾濫します。農家は水が引くのを待ちます！冬は休みますか？" * 8,
    "ar": "يفيض النهر كل ربيع. ينتظر المزارعون انحسار المياه! هل يرتاحون في الشتاء؟ " * 6,
    "fa": "رودخانه هر بهار طغیان می‌کند. کشاورزان منتظر فروکش کردن آب می‌مانند! آیا در زمستان استراحت می‌کنند؟ " * 5,
    "short": "One short sentence only.",
    "emoji": "Rockets 🚀 fly high above the clouds. They carry satellites 🛰 into orbit! " * 6,
}


@pytest.fixture(scope="module")
def units(spark):
    docs = spark.createDataFrame([(k, v, f"https://example.org/{k}") for k, v in DOCS.items()],
                                 "id string, text string, url string")
    return [r.asDict() for r in split_documents(docs, 40, BUDGET).collect()]


def test_every_script_is_cut_into_sentences(spark):
    docs = spark.createDataFrame([(k, v) for k, v in DOCS.items()], "id string, text string")
    starts = {r["id"]: r["starts"] for r in sentence_starts(docs).collect()}
    assert len(starts["zh"]) == len(starts["ja"]) == 24  # 3 sentences, 8 times: the CJK marks are bounds
    assert len(starts["ar"]) == 18 and len(starts["fa"]) == 15 and len(starts["en"]) == 18
    assert starts["short"] == [0]


def test_passages_tile_their_document_and_start_where_a_sentence_starts(units):
    by_doc = {}
    for u in units:
        by_doc.setdefault(u["doc_id"], []).append(u)
    assert set(by_doc) == set(DOCS)
    for doc_id, parts in by_doc.items():
        text = DOCS[doc_id]
        parts.sort(key=lambda u: u["passage"])
        assert [u["passage"] for u in parts] == list(range(len(parts)))
        assert parts[0]["span_start"] == 0 and parts[-1]["span_end"] == len(text)
        assert all(a["span_end"] == b["span_start"] for a, b in zip(parts, parts[1:], strict=False))
        assert "".join(u["text"] for u in parts) == text
        for u in parts:
            assert u["text"] == text[u["span_start"]:u["span_end"]]
            assert END.search(u["text"]), (doc_id, u["text"][-30:])  # never cut inside a sentence
            one_sentence = len(END.findall(u["text"])) <= 1
            assert u["passage_tokens"] <= 40 or one_sentence
        if doc_id == "short":
            assert len(parts) == 1 and parts[0]["id"] == "short" and parts[0]["url"] == "https://example.org/short"
        else:
            assert len(parts) > 1 and parts[1]["id"] == f"{doc_id}#p1"


def test_without_a_budget_every_document_is_one_unit(spark):
    docs = spark.createDataFrame([(k, v, "") for k, v in DOCS.items()], "id string, text string, url string")
    units = split_documents(docs, None, BUDGET).collect()
    assert sorted(u["id"] for u in units) == sorted(DOCS)
    assert all(u["span_end"] == len(DOCS[u["id"]]) and u["text"] == DOCS[u["id"]] for u in units)
