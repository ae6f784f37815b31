"""The pre-screen with datatrove's thresholds and spaCy tokens decides as datatrove's Gopher and C4 filters do.

Each crafted document is built to make one datatrove rule drop it (asserted, so a test cannot pass on documents
both sides keep); the fanno-spark decision of the same rule family must be the same for every document."""

import pytest
from datatrove.data import Document
from datatrove.pipeline import filters as datatrove_filters

from fanno_spark.config import PrescreenConfig
from fanno_spark.prescreen import heuristics

pytestmark = pytest.mark.spark

SAME = PrescreenConfig(min_alpha_word_ratio=0.8, min_sentences=5, filter_curly_bracket=True, languages=(),
                       tokenizer="spacy_en")
FAMILIES = {
    "gopher_quality": ("too_few_words", "too_many_words", "short_mean_word_length", "long_mean_word_length",
                       "symbol_ratio", "low_alpha_ratio", "few_stop_words", "bullet_lines", "ellipsis_lines"),
    "gopher_repetition": ("duplicate_paragraphs", "duplicate_paragraph_chars", "duplicate_lines",
                          "duplicate_line_chars", "top_2gram", "top_3gram", "top_4gram",
                          *(f"duplicate_{n}grams" for n in range(5, 11))),
    "c4": ("few_sentences", "lorem_ipsum", "curly_bracket"),
}
S = [
    "Gardeners often say that healthy soil is the foundation of every good harvest.",
    "Worms open small channels, and the organic matter they leave behind feeds the roots.",
    "In spring, many people test their beds with a simple kit before they plant anything.",
    "The results show how much nitrogen, phosphorus and potassium the ground still holds.",
    "If the numbers are low, compost or manure can be added a few weeks ahead of sowing.",
    "Mulch keeps moisture in the ground and protects young plants from the midday sun.",
    "Rotating crops each year also helps, because different plants take different nutrients.",
    "Beans and peas even return nitrogen to the soil through bacteria living on their roots.",
    "Finally, avoid walking on wet beds: compacted earth makes it hard for water to drain.",
    "With these habits, a small garden can feed a family for much of the summer season.",
]
PROSE = "\n".join(S)
LONG = [a + b for a in ("counter", "inter", "super", "hyper", "ultra", "multi", "trans", "micro")
        for b in ("revolutionaries", "nationalization", "compartmentalized", "institutionalism", "photosynthesizing",
                  "crystallographers", "electromagnetism")]
SOME = " ".join(S).replace(",", "").replace(".", "").replace(":", "").split()[:30]
# (text, the datatrove family and reason that drops it; None: every filter keeps it)
CASES = [
    (PROSE, None),
    (S[0] + " " + S[1], {"gopher_quality": "gopher_short_doc", "c4": "too_few_sentences"}),
    ("\n".join(f"The {' '.join(LONG[i:i + 3])} and {' '.join(LONG[i + 3:i + 7])}." for i in range(0, 56, 7)),
     ("gopher_quality", "gopher_above_avg_threshold")),
    (PROSE + "\n" + " ".join(f"#{w}" for w in LONG[:40]) + ".", ("gopher_quality", "gopher_too_many_hashes")),
    (PROSE + "\n" + " ".join(f"{w}..." for w in SOME), ("gopher_quality", "gopher_too_many_ellipsis")),
    ("\n".join(f"- {s}" for s in S), ("gopher_quality", "gopher_too_many_bullets")),
    ("\n".join(s[:-1] + " and so on..." if i % 2 else s for i, s in enumerate(S)),
     ("gopher_quality", "gopher_too_many_end_ellipsis")),
    # punctuation tokens count as words for the alpha share: whitespace words would all pass here
    (PROSE.replace(" ", " , ").replace(".", " ; ."), ("gopher_quality", "gopher_below_alpha_threshold")),
    (PROSE.replace("the ", "a ").replace("The ", "A ").replace(" and ", " or ").replace(" to ", " for ")
     .replace(" of ", " in ").replace(" that ", " which ").replace(" with ", " by ").replace(" be ", " get ")
     .replace(" have ", " hold "), ("gopher_quality", "gopher_enough_stop_words")),
    ((PROSE + "\n\n") * 3, ("gopher_repetition", "dup_para_frac")),
    (PROSE + "\n" + S[0] + "\n" + S[0] + "\n" + S[0], ("gopher_repetition", "dup_line_char_frac")),
    (PROSE + "\n" + " ".join(["green beans"] * 80) + ".", ("gopher_repetition", "top_2_gram")),
    (PROSE + "\n" + " ".join(f"the {w} soil and the {w} roots" for w in ("dry", "wet", "rich", "poor") * 3),
     ("gopher_repetition", "duplicated_5_n_grams")),
    ("\n".join(S[:4]), ("c4", "too_few_sentences")),
    (" ".join(S), None),  # one line, ten sentences (C4 counts sentences, not lines)
    (PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", ("c4", "lorem_ipsum")),
    (PROSE + "\nThe config is {\"water\": true} for each bed.", ("c4", "curly_bracket")),
    # C4 counts only lines it keeps: javascript / cookie-policy lines and lines without an end mark do not count
    ("\n".join([*S[:3], *(f"Enable JavaScript to read {s.lower()}" for s in S[3:])]), ("c4", "too_few_sentences")),
    ("\n".join([*S[:4], *(s[:-1] for s in S[4:])]), ("c4", "too_few_sentences")),
    # a "{" in a line C4 drops anyway (no end mark) does not drop the document
    (PROSE + "\nconfig = {}", None),
    # citations are removed before the end-mark check; contractions, URLs and hyphens split as spaCy does
    (PROSE.replace("harvest.", "harvest [1].") + "\nDon't forget https://example.org/soil-tests, it's well-known.",
     None),
]


def _datatrove(text: str) -> dict:
    out = {}
    for family, f in (("gopher_quality", datatrove_filters.GopherQualityFilter()),
                      ("gopher_repetition", datatrove_filters.GopherRepetitionFilter()),
                      ("c4", datatrove_filters.C4QualityFilter())):
        res = f.filter(Document(text=text, id="x"))
        out[family] = None if res is True else res[1]
    return out


def test_every_crafted_document_gets_datatrove_s_decision(spark):
    theirs = [_datatrove(t) for t, _ in CASES]
    for (text, expected), dt in zip(CASES, theirs, strict=True):
        dropped = {f: r for f, r in dt.items() if r}
        want = expected if isinstance(expected, dict) else dict([expected]) if expected else {}
        assert dropped == want, (text[:80], dt)
    df = spark.createDataFrame([(f"d{i:02d}", t) for i, (t, _) in enumerate(CASES)], "id string, text string")
    rules = {reason: cond for cond, reason in heuristics.heuristic_rules(SAME)}
    scored = heuristics.score_documents(df, SAME.tokenizer)
    rows = scored.select("id", *[rules[r].alias(r) for names in FAMILIES.values() for r in names]).orderBy("id").collect()
    for row, dt, (text, _) in zip(rows, theirs, CASES, strict=True):
        for family, names in FAMILIES.items():
            ours = [r for r in names if row[r]]
            assert bool(ours) == bool(dt[family]), (family, ours, dt[family], text[:80])


def test_whitespace_words_and_spacy_tokens_count_punctuation_differently(spark):
    """Punctuation attached to words: one whitespace word each, two spaCy tokens (the word and the mark)."""
    words = " ".join(S).replace(",", "").replace(".", "").replace(":", "").split()
    text = " ".join(w + "," for w in words)
    df = spark.createDataFrame([("d0", text)], "id string, text string")
    ws = heuristics.score_documents(df, "whitespace").first()
    sp = heuristics.score_documents(df, "spacy_en").first()
    assert ws["n_tokens"] == ws["n_words"] == len(words) and ws["alpha_word_ratio"] == 1.0
    assert sp["n_tokens"] == 2 * len(words) and sp["n_words"] == len(words) and sp["alpha_word_ratio"] == 0.5
    assert ws["mean_word_length"] > sp["mean_word_length"]  # the comma counts in a whitespace word's length
