"""Word splitters for the Gopher and C4 scores, and the sentence boundaries C4 counts.

`whitespace`: `str.split()`. `spacy_en`: the tokens of spaCy's blank English tokenizer (what datatrove's Gopher
filters count, so the pre-screen can reproduce their decisions), computed here with spaCy's own English rules
(prefix, suffix and infix patterns, special cases) but without building spaCy Docs: spaCy creates a lexeme per
new string and a Doc per call, ~50-90 µs per unseen chunk on this CPU, while the same rules applied directly
cost a few regex searches. spaCy splits at whitespace first and then tokenizes each chunk on its own, so a
chunk's tokens can be cached: web text repeats its chunks (Zipf), and most lookups are hits.

Sentences follow spaCy's `sentencizer` (what datatrove's C4 filter uses per kept line): a sentence starts at the
first token after a sentence-final punctuation token that is not punctuation itself; whitespace tokens (any
whitespace run other than one space) count as words there.
"""

from __future__ import annotations

import string
import unicodedata
from functools import cache

# Tokens made only of these are "symbols" in Gopher's word counts (the ASCII punctuation, control characters
# and the CJK / typographic marks datatrove's Gopher filter lists).
PUNCTUATION = frozenset(
    string.punctuation
    + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
    + "\u2014\u201d\uff05\uff11\u3008\u3001\u2501\u3010\u300c\u300d\uff0c\u3011\uff1b\u201c\u300a\u201e\u2019"
    + "\u2236\u00b4\uff0e\uff08\u2013\uff1f\uff01\uff1a\uff5e\u00ab\u3009\u300b\uff09\u3002\u2026\u25ba\u00bb"
)
# sentence-final marks without spaCy (the whitespace splitter); spaCy's sentencizer list otherwise
SENTENCE_END = frozenset("!.?\u2026\u203c\u203d\u2047\u2048\u2049\u3002\uff01\uff0e\uff1f\uff61")


def is_punct(token: str) -> bool:
    """spaCy's `is_punct`: every character in a Unicode punctuation category."""
    return all(unicodedata.category(c)[0] == "P" for c in token)


class SpacyEnglish:
    """spaCy's blank-English tokenization of one whitespace-free chunk (its affix loop, infixes, special cases)."""

    def __init__(self):
        from spacy.lang.en import English  # the rules only: no model, nothing downloaded

        tok = English().tokenizer
        self.prefix = tok.prefix_search
        self.suffix = tok.suffix_search
        self.infixes = tok.infix_finditer
        self.token_match = tok.token_match
        self.url_match = tok.url_match
        from spacy.attrs import ORTH
        from spacy.pipeline.sentencizer import Sentencizer

        self.sentence_end = frozenset(Sentencizer.default_punct_chars)
        self.specials = {key: [tok.vocab.strings[d[ORTH]] if isinstance(d[ORTH], int) else d[ORTH] for d in toks]
                         for key, toks in tok.rules.items()}
        # special cases spaCy also finds after affix splitting (its special-case matcher)
        self.patterns = {}
        for key, toks in self.specials.items():
            if self._find(self.prefix, key) or self._find(self.suffix, key) or list(self.infixes(key)):
                self.patterns[tuple(self.split(key, specials=False))] = toks
        self.longest = max((len(p) for p in self.patterns), default=0)
        self.pattern_starts = {p[0] for p in self.patterns}

    @staticmethod
    def _find(search, s: str) -> int:
        m = search(s)
        return m.end() - m.start() if m is not None else 0

    def split(self, s: str, specials: bool = True) -> list[str]:
        sp = self.specials if specials else {}
        if s in sp:
            return list(sp[s])
        if s.isalpha():  # no English prefix, suffix or infix rule matches letters alone
            return [s]
        prefixes: list[str] = []
        suffixes: list[str] = []
        last = -1
        while s and len(s) != last:
            if (self.token_match and self.token_match(s)) or s in sp:
                break
            last = len(s)
            pre_len = self._find(self.prefix, s)
            if pre_len:
                prefix, minus_pre = s[:pre_len], s[pre_len:]
                if minus_pre and minus_pre in sp:
                    s = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._find(self.suffix, s[pre_len:])
            if suf_len:
                suffix, minus_suf = s[-suf_len:], s[:-suf_len]
                if minus_suf and minus_suf in sp:
                    s = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(s):
                s = s[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                s = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                s = minus_suf
                suffixes.append(suffix)
        tokens = prefixes
        if s:
            if s in sp:
                tokens += sp[s]
            elif (self.token_match and self.token_match(s)) or (self.url_match and self.url_match(s)):
                tokens.append(s)
            else:
                start = 0
                for m in self.infixes(s):
                    if m.start() == 0:  # an infix at the very start is not split off
                        continue
                    if m.start() != start:
                        tokens.append(s[start:m.start()])
                    if m.start() != m.end():
                        tokens.append(s[m.start():m.end()])
                    start = m.end()
                if s[start:]:
                    tokens.append(s[start:])
        tokens += reversed(suffixes)
        if specials and self.longest > 1 and len(tokens) > 1:
            tokens = self._match_specials(tokens)
        return tokens

    def _match_specials(self, tokens: list[str]) -> list[str]:
        out, i = [], 0
        while i < len(tokens):
            if tokens[i] not in self.pattern_starts:
                out.append(tokens[i])
                i += 1
                continue
            for n in range(min(self.longest, len(tokens) - i), 1, -1):
                hit = self.patterns.get(tuple(tokens[i:i + n]))
                if hit is not None:
                    out += hit
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out


@cache
def spacy_english() -> SpacyEnglish:
    return SpacyEnglish()


def chunk_tokens(splitter: str):
    """chunk -> its word tokens, for `prescreen.tokenizer`."""
    if splitter == "spacy_en":
        return spacy_english().split
    return lambda chunk: [chunk]
