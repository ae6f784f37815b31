"""Gopher quality, Gopher repetition and C4 counts of a document, as datatrove 0.10 defines them, in one pandas UDF.

Why Python and not column expressions: the scores need words (`words.py`: whitespace or spaCy's English tokens)
and Gopher's repetition rules a sorted pass over every n-gram for nine values of n; Spark evaluates array
lambdas in its interpreter at ~0.3-1 µs per element. Here chunk tokens are cached per Python worker and the
n-grams are numpy on token hashes.

Definitions (datatrove's, so the P1 bench can compare decisions one to one):
- tokens: every word token; `words`: tokens with a character outside PUNCTUATION (the word counts and mean
  length use these); alpha tokens: with a letter; stop words: distinct Gopher stop words present, case-sensitive.
- hashes / ellipses: occurrences of "#" / of "..." and "…" in the text (over tokens for the ratios).
- lines (`str.splitlines`): bullet lines start with "•" or "-" after leading spaces; ellipsis lines end in "..."/"…".
- paragraphs split at 2+ newlines, repetition lines at 1+; repeats after the first and their characters.
- top_n (n = 2..4): characters of the most frequent n-gram (words joined by spaces; the earliest on a tie) x its
  count; dup_n (n = 5..10): datatrove's left-to-right scan: a repeated n-gram adds its characters (words joined
  without spaces) and the scan jumps past it.
- C4 per line (stripped): lines with a word over 1,000 characters are skipped; citations ("[1]", "[edit]") removed;
  lines must end in . ? ! " ' (not "...") and have 3+ words; lines naming javascript or a cookie/terms policy are
  skipped; the others add their sentences. lorem / curly: "lorem ipsum" / "{" in a line that passed (for "{":
  and does not name javascript) - C4 drops the whole document there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import reduce
from itertools import chain
from operator import itemgetter, or_

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from . import words as W

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's list
FIELDS = ["n_tokens", "n_words", "word_chars", "alpha_tokens", "stop_words", "hashes", "ellipses",
          "n_lines", "bullet_lines", "ellipsis_lines", "paragraphs", "dup_paragraphs", "dup_paragraph_chars",
          "rep_lines", "dup_lines", "dup_line_chars", *(f"top_{n}" for n in TOP_NGRAMS),
          *(f"dup_{n}" for n in DUP_NGRAMS), "c4_sentences", "c4_lorem", "c4_curly"]
SCHEMA = T.StructType([T.StructField(f, T.BooleanType() if f in ("c4_lorem", "c4_curly") else T.LongType())
                       for f in FIELDS])
_MIX = np.int64(1_000_003)
_BASE = 1_000_003  # polynomial string hash, mod 2**64, for n-grams joined without spaces
_BASE_INV = pow(_BASE, -1, 2**64)
_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_C4_END = (".", "?", "!", '"', "'")
_ODD_SPACE = re.compile(r"[^\S ]|  ")  # whitespace other than single spaces: spaCy makes it a token
_SPACES = re.compile(r"(\s+)")
_POLY, _LENS, _COUNTS, _STOP, _TRANS = range(5)  # a chunk's cache entry
_FIELD_BITS = 40  # per-chunk counts packed into one int, so a page sums them in one pass
_CACHE_LIMIT = 1_000_000  # chunk entries per worker (~0.3 KB each); cleared whole when full


class Scorer:
    """Per Python worker: one splitter and its chunk cache."""

    def __init__(self, splitter: str):
        self.split = W.chunk_tokens(splitter)
        self.spacy = splitter == "spacy_en"
        self.sentence_end = W.spacy_english().sentence_end if self.spacy else W.SENTENCE_END
        self.symbols = W.PUNCTUATION | self.sentence_end  # a word needs a character outside these
        self.cache: dict[str, tuple] = {}

    def _entry(self, chunk: str) -> tuple:
        """(token hashes, token lengths, packed counts, stop-word bits, sentence transitions) of one chunk."""
        toks = [t for t in self.split(chunk) if t.strip()]
        words = [t for t in toks if any(c not in self.symbols for c in t)]
        stop = 0
        for t in toks:
            if t in STOP_WORDS:
                stop |= 1 << STOP_WORDS.index(t)
        if self.spacy:
            sent = toks
        else:  # a whitespace chunk's trailing marks, as separate tokens for the sentence count
            core = chunk.rstrip("".join(self.symbols))
            sent = [core, *chunk[len(core):]] if core else list(chunk)
        trans = []
        for seen in (False, True):
            added = 0
            for t in sent:
                if t in self.sentence_end:
                    seen = True
                elif seen and not W.is_punct(t):
                    added, seen = added + 1, False
            trans.append((seen, added))
        counts = (len(toks), len(words), sum(map(len, words)), sum(any(c.isalpha() for c in t) for t in toks))
        return (tuple(_poly(t) for t in toks), tuple(len(t) for t in toks), _pack(counts), stop, tuple(trans))

    def entries(self, chunks: list[str]) -> list[tuple]:
        cache = self.cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out = []
        for c in chunks:
            e = cache.get(c)
            if e is None:
                e = cache[c] = self._entry(c)
            out.append(e)
        return out

    def sentences(self, line: str) -> int:
        """spaCy's sentencizer count for one line (whitespace runs other than one space act as words)."""
        if _ODD_SPACE.search(line):
            parts = _SPACES.split(line)
            seq = [None if i % 2 else p for i, p in enumerate(parts) if (p and not i % 2) or (i % 2 and p != " ")]
        else:
            seq = line.split(" ")
        seen, n = False, 1
        for p in seq:
            if p is None:
                if seen:
                    n, seen = n + 1, False
            else:
                e = self.cache.get(p) or self.entries([p])[0]
                seen, added = e[_TRANS][seen]
                n += added
        return n

    def c4(self, text: str) -> tuple[int, bool, bool]:
        sentences, lorem, curly = 0, False, False
        for line in text.splitlines():
            line = line.strip()
            words = line.split()
            if len(line) > 1000 and any(len(w) > 1000 for w in words):
                continue
            line = _CITATION.sub("", line)
            if not line.endswith(_C4_END) or line.endswith("...") or len(words) < 3:
                continue
            low = line.lower()
            lorem = lorem or "lorem ipsum" in low
            if "javascript" in low:
                continue
            curly = curly or "{" in line
            if any(p in low for p in _POLICY):
                continue
            sentences += self.sentences(line)
        return sentences, lorem, curly

    def score(self, text: str) -> tuple:
        es = self.entries(text.split())
        n_tok, n_words, word_chars, alpha = _unpack(sum(map(itemgetter(_COUNTS), es)))
        mask = reduce(or_, map(itemgetter(_STOP), es), 0)
        lines = text.splitlines()
        paragraphs = _PARAGRAPH.split(text.strip())
        rep_lines = _LINES.split(text)
        out = [n_tok, n_words, word_chars, alpha, mask.bit_count(),
               text.count("#"), text.count("...") + text.count("…"), len(lines),
               sum(ln.lstrip().startswith(("•", "-")) for ln in lines),
               sum(ln.rstrip().endswith(("...", "…")) for ln in lines),
               len(paragraphs), *_duplicates(paragraphs), len(rep_lines), *_duplicates(rep_lines)]
        poly = np.fromiter(chain.from_iterable(map(itemgetter(_POLY), es)), dtype=np.uint64, count=n_tok)
        lens = np.fromiter(chain.from_iterable(map(itemgetter(_LENS), es)), dtype=np.int64, count=n_tok)
        out += _ngrams(lens, poly)
        out += self.c4(text)
        return tuple(out)


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n, chars = n + 1, chars + len(x)
        else:
            seen.add(x)
    return n, chars


def _poly(token: str) -> int:
    h = 0
    for c in token:
        h = (h * _BASE + ord(c)) & 0xFFFFFFFFFFFFFFFF
    return h


def _pack(counts: tuple[int, int, int, int]) -> int:
    a, b, c, d = counts
    return a | b << _FIELD_BITS | c << 2 * _FIELD_BITS | d << 3 * _FIELD_BITS


def _unpack(packed: int, n: int = 4) -> tuple[int, ...]:
    mask = (1 << _FIELD_BITS) - 1
    return tuple((packed >> (i * _FIELD_BITS)) & mask for i in range(n))


def _scramble(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: token keys with no arithmetic structure left for the n-gram sums."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _joined_prefix(lens: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prefix hashes over the tokens joined without spaces: equal strings get equal keys however they split."""
    ends = np.concatenate(([0], np.cumsum(lens))).astype(np.uint64)
    total = int(ends[-1])
    base = np.full(total + 1, _BASE, dtype=np.uint64)
    base[0] = 1
    inv = np.full(total + 1, _BASE_INV, dtype=np.uint64)
    inv[0] = 1
    pw, pw_inv = np.cumprod(base), np.cumprod(inv)  # wrap mod 2**64
    # prefix hash P[j] = B^ends[j] * G[j], G[j] = sum_{k<j} poly[k] * B^-ends[k+1]
    g = np.concatenate((np.zeros(1, np.uint64), np.cumsum(poly * pw_inv[ends[1:]])))  # uint64 throughout
    return pw, ends, g


def _joined_keys(prefix: tuple[np.ndarray, np.ndarray, np.ndarray], n: int) -> np.ndarray:
    """The hash of "".join(tokens[i:i + n]) for every i."""
    pw, ends, g = prefix
    return pw[ends[n:]] * (g[n:] - g[:-n])


def _ngrams(lens: np.ndarray, poly: np.ndarray) -> list[int]:
    """top_2..4 and dup_5..10 from one sort of every n-gram's key, n = 2..10 together (n mixed into the key)."""
    m = len(poly)
    hs = _scramble(poly).view(np.int64)  # not poly itself: its n-gram sums would collide ("b"+"abc", "ab"+"bc")
    segments, offsets, keys = [], {}, hs
    prefix = _joined_prefix(lens, poly) if m >= min(DUP_NGRAMS) else None
    at = 0
    with np.errstate(over="ignore"):  # the hashes wrap around on purpose
        for n in range(2, min(m, max(DUP_NGRAMS)) + 1):
            keys = keys[:-1] * _MIX + hs[n - 1:]  # hash of the n-gram (its tokens) starting at each position
            seg = keys if n in TOP_NGRAMS else _joined_keys(prefix, n).view(np.int64)  # dup: the joined string
            segments.append(seg * _MIX + n)
            offsets[n] = (at, at + len(seg))
            at += len(seg)
    if not segments:
        return [0] * (len(TOP_NGRAMS) + len(DUP_NGRAMS))
    allkeys = np.concatenate(segments)
    order = np.argsort(allkeys)
    ordered = allkeys[order]
    new = np.empty(len(ordered), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(ordered)))
    first = np.minimum.reduceat(order, starts)  # each distinct n-gram's first position (segment offset added)
    top = []
    for n in TOP_NGRAMS:
        if n not in offsets:
            top.append(0)
            continue
        lo, hi = offsets[n]
        sel = (first >= lo) & (first < hi)
        c = counts[sel]
        best = c.max()
        i = int(first[sel][c == best].min()) - lo  # Counter.most_common: the first seen among equals
        top.append(int(best) * (int(lens[i:i + n].sum()) + n - 1))
    dup = [0] * len(DUP_NGRAMS)
    if m < min(DUP_NGRAMS):
        return top + dup
    lo_dup = offsets[min(DUP_NGRAMS)][0]
    repeated = np.sort(order[np.repeat(counts > 1, counts)])
    repeated = repeated[repeated >= lo_dup]
    if not len(repeated):
        return top + dup
    seg_starts = np.array([offsets[n][0] for n in DUP_NGRAMS if n in offsets])
    seg = np.searchsorted(seg_starts, repeated, side="right") - 1
    ns = np.asarray(DUP_NGRAMS)[seg]
    pos = repeated - seg_starts[seg]
    ends = prefix[1].astype(np.int64)
    chars = ends[pos + ns] - ends[pos]
    # datatrove's scan visits every position not jumped over; a visited n-gram seen before adds its characters
    # and jumps n. N-grams that occur once never match, so only the repeated ones are walked (all n in one pass).
    cur, seen, total, frontier = -1, set(), 0, 0
    for j, n, p, key, c in zip(seg.tolist(), ns.tolist(), pos.tolist(), allkeys[repeated].tolist(), chars.tolist(),
                               strict=True):
        if j != cur:
            if cur >= 0:
                dup[cur] = total
            cur, seen, total, frontier = j, set(), 0, 0
        if p < frontier:
            continue
        if key in seen:
            total += c
            frontier = p + n
        else:
            seen.add(key)
    dup[cur] = total
    return top + dup


_SCORERS: dict[str, Scorer] = {}


def scorer(splitter: str) -> Scorer:
    if splitter not in _SCORERS:
        _SCORERS[splitter] = Scorer(splitter)
    return _SCORERS[splitter]


def gopher_c4_counts(text: Column, splitter: str) -> Column:
    """A struct column of FIELDS (divide by the token, line or character counts for the ratios)."""

    @F.pandas_udf(SCHEMA)
    def _counts(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        s = scorer(splitter)
        for texts in batches:
            yield pd.DataFrame([s.score(t or "") for t in texts], columns=FIELDS)

    return _counts(text)
