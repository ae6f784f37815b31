"""The pre-screen's n-gram and duplicate counts against datatrove's own functions, on many random documents.

The vocabulary is small so n-grams repeat often, and holds words whose concatenations collide ("a" + "bc" is
"ab" + "c"): datatrove keys duplicate n-grams by the words joined without spaces, top n-grams with spaces.
"""

import random

# datatrove is a pinned test dependency: a broken install fails here, it never skips the differential test
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)

from fanno_spark.prescreen.gopher_c4 import DUP_NGRAMS, FIELDS, TOP_NGRAMS, Scorer

VOCAB = ["a", "b", "c", "ab", "bc", "abc", "the", "and", "x", "xa", "of"]


def _expected(text: str) -> dict[str, int]:
    words = text.split()
    out = {f"top_{n}": find_top_duplicate(get_n_grams(words, n)) if len(words) >= n else 0 for n in TOP_NGRAMS}
    out |= {f"dup_{n}": find_all_duplicate(words, n) for n in DUP_NGRAMS}
    out["dup_lines"], out["dup_line_chars"] = find_duplicates(text.split("\n"))
    out["n_tokens"] = len(words)
    out["word_chars"] = sum(map(len, words))
    return out


def _documents(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    docs = ["", "a", "a b", "a b c d", "x a bc the xa b c the"]  # under 5 words; a joined-only repeat
    for _ in range(n):
        size = rng.choice([3, 8, 20, 60, 300])
        vocab = VOCAB[: rng.randint(2, len(VOCAB))]
        words = [rng.choice(vocab) for _ in range(size)]
        docs.append("".join(w + rng.choice([" ", " ", " ", "\n"]) for w in words).strip())
    return docs


def test_ngram_counts_equal_datatrove_on_random_documents():
    scorer = Scorer("whitespace")
    docs = _documents(seed=7, n=400)
    joined_only = 0  # documents where joining without spaces changes a duplicate count
    for text in docs:
        got = dict(zip(FIELDS, scorer.score(text), strict=True))
        want = _expected(text)
        assert {k: got[k] for k in want} == want, text
        words = text.split()
        spaced = [find_duplicates(get_n_grams(words, n))[1] for n in DUP_NGRAMS]
        joined_only += any(s != find_all_duplicate(words, n) for s, n in zip(spaced, DUP_NGRAMS, strict=True))
    assert joined_only > 0  # the collision path was exercised


def test_cached_chunks_give_the_same_counts_as_a_fresh_scorer():
    docs = _documents(seed=11, n=60)
    warm = Scorer("whitespace")
    first = [warm.score(t) for t in docs]
    assert [warm.score(t) for t in docs] == first
    assert [Scorer("whitespace").score(t) for t in reversed(docs)] == first[::-1]
