"""FANNO's hard filter for generated instructions, its bugs fixed, plus a rule for text that is no
request at all. Pure functions: one reason per instruction (None = kept), each a counted drop_reason.

FANNO (src/evaluator.py, hard_filter) drops: empty; non-ASCII; < 5 words without a final '.' or '?';
any of its keywords found by substring search; fewer letters than non-letters. Fixed here:
- keywords match whole words (with their inflections), so `now` no longer hits `known`, `name` no
  longer hits `filename`, `text` no longer hits `context`, `refer` still hits `referring`;
- the letter ratio ignores whitespace (FANNO counted every space as a non-letter, so ordinary
  sentences of short words were dropped);
- the ASCII rule is a switch (`filter.ascii_only`), off for corpora in other languages.
"""

from __future__ import annotations

import re
from functools import cache

from ..text.verbs import LEAD, verbs

# FANNO's keywords, grouped by why they disqualify an instruction.
SOURCE_WORDS = ("based on", "according", "given", "mentioned", "refer", "provided", "passage", "text", "paragraph")
TIME_WORDS = ("recent", "current", "now", "today", "yesterday", "tomorrow", "soon", "upcoming", "recently",
              "coming", "currently")
NAME_WORDS = ("name",)
# Inflections FANNO's substring search caught on purpose ("referring", "mentions", "passages").
_FORMS = {
    "according": "according(?:ly)?", "mentioned": "(?:un)?mentioned", "refer": "refer(?:s|red|ring|ence|ences)?",
    "passage": "passages?", "soon": "(?<!as )soon(?! as)",  # "as soon as" is a conjunction, not a date
    "text": "texts?", "paragraph": "paragraphs?",
    # FANNO's substring `name` also caught "named", "naming", "surname"; "filename" / "rename" are code, not a person
    "name": "(?:sur|nick|user|first|last|middle|maiden|pen|full|family|brand)?names?|named|naming",
}

REQUEST_OPENERS = frozenset("""what which how why when where who whom whose can could would should will do does did is
are was were has have had may might shall am""".split())
# An assistant talking about itself, not a task ("How can I help you today?", "Let me know if ...").
ASSISTANT_CHATTER = re.compile(
    r"\b(?:how (?:can|may) i (?:help|assist)|(?:happy|glad|ready|here) to (?:help|assist)|let me know|"
    r"feel free to|i hope this helps|anything else i can|your task(?! is to))\b", re.IGNORECASE)
# Openers of an answer stub or a remark about itself; word-bounded, so "Implement ..." and "Imagine ..." pass.
STUB_OPENER = re.compile(
    r"^(?:i'?m|i am|i'?d|i would|i will|i can|i have|i've|sure|certainly|of course|okay|ok|hello|hi|hey|"
    r"thanks?|thank you|great|absolutely|here(?:'s| is| are)|(?:the )?(?:answer|response|solution|output)"
    r"(?:\s*:|\s+(?:is|was|would be|to (?:this|the|your))\b|\s*$))\b", re.IGNORECASE)
TASK_FRAME = re.compile(r"^(?:your|the) task is to ([a-z]+)\b", re.IGNORECASE)  # "Your task is to write ..."
SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")
WORD = re.compile(r"[a-z][a-z'-]*")
# Words that open a leading clause before the imperative ("Using the list below, sort ...", "As a
# historian, analyze ...", "In 100 words, describe ...").
CLAUSE_OPENERS = frozenset("""using given as in for with without based if when after before once while assuming
considering starting from by on to at within under over during like unlike suppose imagine pretending""".split())
# A text that stops on one of these (no closing punctuation) was cut off mid-sentence.
DANGLING = frozenset("""a an the to of and or but nor that which who whose can could will would should be is are was
were with for in on by as from than if because such like its their your his her our my this these those into
onto about between while when where whether has have had do does not very more most why how what each every
all some any""".split())


@cache
def _keyword_regex(words: tuple[str, ...]) -> re.Pattern:
    alts = "|".join(_FORMS.get(w, re.escape(w)).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alts})\b", re.IGNORECASE)


def keyword_hit(instruction: str, words: tuple[str, ...]) -> str | None:
    m = _keyword_regex(tuple(words)).search(instruction)
    return m.group(0) if m else None


def letters_below_half(instruction: str) -> bool:
    """Fewer letters than other visible characters (whitespace not counted: FANNO counted it)."""
    visible = [c for c in instruction if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    return letters < len(visible) - letters


CODE_START = re.compile(r"^\W*[A-Za-z_][\w.]*[(\[=]")


def _opening_word(words: list[str]) -> str | None:
    for w in words[:4]:
        if w not in LEAD:
            return w.split("'")[0] if w.endswith("'s") else w  # "let's" -> "let"
    return None


def _sentence_requests(sentence: str) -> bool:
    """One sentence asks: it ends with '?', opens (after "please" and the like, or after a leading clause)
    with an instruction verb, or opens with a wh-word / auxiliary and is not closed as a statement."""
    s = sentence.strip().strip("\"'“”*`()[] ")
    if not s:
        return False
    if s.endswith("?"):
        return True
    if CODE_START.match(s):  # "list(map(str, arr))" opens with a call, not with the verb "list"
        return False
    words = WORD.findall(s.lower())
    first = _opening_word(words)
    if first is None:
        return False
    if first in verbs():
        return True
    if first in REQUEST_OPENERS:  # "What is the capital of France" asks; "When water boils, it ..." does not
        return not s.endswith((".", "!", ",")) and not unfinished(s)
    if first in CLAUSE_OPENERS and "," in s:  # the imperative after a leading clause
        after = WORD.findall(s.split(",", 1)[1].lower())
        nxt = _opening_word(after)
        return nxt is not None and (nxt in verbs() or (nxt in REQUEST_OPENERS and s.endswith("?")))
    return False


def is_request(instruction: str) -> bool:
    """A question or an imperative, decided without a parser (none ships offline): one of its sentences
    ends with '?', or opens with a base-form verb from the instruction-verb lexicon (after "please" and the
    like, or after a leading clause such as "Using the data below,"), or with a wh-word / auxiliary.
    Assistant chatter ("How can I help you today?") and answer stubs or remarks about itself ("I'm ready
    to help.", "The answer to this question is:", "Sure!") are not, whatever follows."""
    text = instruction.strip().strip("\"'“”*` ")
    if not text or ASSISTANT_CHATTER.search(text):
        return False
    frame = TASK_FRAME.match(text)
    if frame:
        return frame.group(1).lower() in verbs()
    if STUB_OPENER.match(text) and not text.endswith("?"):
        return False
    return any(_sentence_requests(s) for s in SENTENCE.split(text))


def unfinished(text: str) -> bool:
    """Cut off mid-sentence: no closing punctuation and a last word that cannot end one, or a trailing
    comma / open bracket ("... a raw file object that can be", "... more readable,")."""
    t = text.rstrip().rstrip("*\"'`”")
    if not t or t[-1] in ".?!:;)]}>\"'":
        return False
    if t[-1] in ",([{-–":
        return True
    words = WORD.findall(t.lower()[-40:])
    return bool(words) and words[-1] in DANGLING


# "[target document description]", "<your topic>", "{product name}", "[...]": a slot nobody filled.
PLACEHOLDER = re.compile(
    r"\[\s*(?:\.\.\.|…)\s*\]|[\[{<]\s*(?:insert|your|enter|add|specify|placeholder|topic|name|describe)\b[^\]}>]*[\]}>]|"
    r"\[[a-z][a-z _-]*\s[a-z _-]*[a-z]\]|(?<![\w\]])\[[a-z]{3,}\]|\{[a-z][a-z _]*\s[a-z _]*[a-z]\}|"
    r"<[a-z][a-z _]*\s[a-z _]*[a-z]>",
    re.IGNORECASE)


def has_placeholder(text: str) -> bool:
    return PLACEHOLDER.search(text) is not None


# An instruction pointing at material below it ("Translate the following sentence:", "Classify this review.").
POINTS_AT_INPUT = re.compile(
    r":\s*$|\b(?:the following|as follows)\b|\bbelow\s*(?:[:.,;?!]|$)|"
    r"\b(?:this|these|the given|the provided|each|both|the two|the three)\s+"
    r"(?:\w+\s+)?(?:sentences?|texts?|statements?|passages?|paragraphs?|code|snippets?|functions?|programs?|"
    r"scripts?|lists?|arrays?|tables?|data|dataset|reviews?|tweets?|emails?|articles?|poems?|stor(?:y|ies)|essays?|"
    r"premises?|hypothes[ie]s|arguments?|claims?|questions?|words?|phrases?|numbers?|equations?|expressions?|"
    r"problems?|scenarios?|situations?|dialogues?|conversations?|quer(?:y|ies)|json|csv|excerpts?|quotes?|"
    r"headlines?|titles?|descriptions?|inputs?|examples?|items?|options?|choices?|pairs?|strings?|values?|"
    r"records?|messages?|comments?|posts?|lines?|verses?|recipes?|ingredients?|steps?|facts?|events?)\b",
    re.IGNORECASE)
# FANNO's source keywords mean "the text you cannot see"; as substrings they also hit "What does 'ad hoc'
# refer to?", "Write a paragraph about ...", "Given a list of integers, return ...". Here they count where
# they point at a source: a determiner before a source noun, "given" / "provided" next to one, "based on" /
# "according to" one, and "mentioned" always.
SOURCE_NOUNS = (r"(?:passages?|texts?|paragraphs?|excerpts?|documents?|articles?|context|information|materials?|"
                r"extracts?|readings?|stor(?:y|ies)|essays?|reports?|stud(?:y|ies)|blog posts?|posts?|web ?pages?|"
                r"pages?|chapters?|lectures?|speech(?:es)?|interviews?|transcripts?|sources?|authors?|writers?)")
SOURCE_REFERENCE = re.compile(
    rf"\b(?:un)?mentioned\b|\baforementioned\b|"
    rf"\b(?:the|this|that|these|those|above|following|given|provided|same|attached|original)\s+(?:[\w-]+\s+)?{SOURCE_NOUNS}\b|"
    rf"\b{SOURCE_NOUNS}\s+(?:given|provided|above|below|shown)\b|"
    rf"\b(?:based on|according to|refer(?:s|red|ring)? to|in light of)\s+(?:the|this|that|these|your)?\s*(?:[\w-]+\s+)?"
    rf"(?:{SOURCE_NOUNS}|data|details|description|findings|results)\b|"
    rf"\b(?:the|this) (?:given|provided)\b|\bgiven (?:above|below)\b", re.IGNORECASE)


QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|`[^`\n]*`')


def unquoted(text: str) -> str:
    """The instruction without its quoted material: "Translate 'I read the article yesterday'" quotes a
    sentence to work on; its words are not the instruction's reference to a source or to a date."""
    return QUOTED.sub('""', text)


def refers_to_source(text: str) -> str | None:
    m = SOURCE_REFERENCE.search(text)
    return m.group(0) if m else None


# "below" points when it ends its phrase ("the list below:"), not in "temperatures below freezing"
POINTER_AT_END = re.compile(r"(?::|\b(?:the following|as follows)\b(?:\s+[\w-]+){0,3}\s*[.?!]?|\bbelow\s*[.?!]?)\s*$",
                            re.IGNORECASE)


def hard_filter_reason(instruction: str, ascii_only: bool = True, has_input: bool = False,
                       require_request: bool = True) -> str | None:
    """The first rule the instruction breaks, or None: FANNO's (bugs fixed) and this project's, in this order.
    With an `input` kept below the instruction, pointing at it ("Translate the following text:") is not a
    reference to an unseen source; without one, pointing at material that is not there is `missing_input`."""
    text = instruction.strip()
    if not text:
        return "empty"
    if ascii_only and not text.isascii():
        return "non_ascii"
    if len(text.split()) < 5 and text[-1] not in ".?":
        return "short_unterminated"
    if has_placeholder(text):
        return "placeholder"
    if unfinished(text) and not has_input:
        return "unfinished"
    bare = unquoted(text)
    if not has_input and refers_to_source(bare):
        return "refers_to_source"
    if keyword_hit(bare, TIME_WORDS):
        return "time_sensitive"
    if keyword_hit(bare, NAME_WORDS):
        return "asks_for_name"
    if letters_below_half(text):
        return "few_letters"
    if require_request and not is_request(text):
        return "not_a_request"
    if not has_input and POINTER_AT_END.search(text):
        return "missing_input"
    return None
