"""Prompt builders (templates are package resources) and pure parsers for LLM output."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from string import Template

from pyspark.sql import types as T

# What a parser UDF returns per row: the parsed value, or null and the reason it was rejected.
PARSED = T.StructType([T.StructField("value", T.StringType()), T.StructField("reason", T.StringType())])

DOC_CLOSE = re.compile(r"<\s*/?\s*document\b[^>]*>", re.IGNORECASE)  # also "< /document>", attributes


@cache
def template(name: str) -> str:
    return resources.files("fanno_spark.prompts").joinpath(name).read_text(encoding="utf-8").strip()


LEAK_NGRAM = 5


@cache
def template_ngrams() -> frozenset[tuple[str, ...]]:
    """Word 5-grams of every prompt template and system prompt (placeholders cut out): generated text
    that repeats one of them is echoing our instructions, not producing data."""
    grams: set[tuple[str, ...]] = set()
    for f in resources.files("fanno_spark.prompts").iterdir():
        if f.name.endswith(".txt"):
            for piece in re.split(r"\$\w+", f.read_text(encoding="utf-8")):
                words = _norm(piece).split()
                grams.update(g for g in zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False) if _distinctive(g))
    from .tags import AUGMENT_STYLE_RULES, DIFFICULTY_DEFINITIONS, STYLE_DEFINITIONS, TASK_DEFINITIONS

    for d in (TASK_DEFINITIONS, DIFFICULTY_DEFINITIONS, STYLE_DEFINITIONS, AUGMENT_STYLE_RULES):
        for sentence in d.values():  # the tag definitions are template text too
            words = _norm(sentence).split()
            grams.update(g for g in zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False) if _distinctive(g))
    return frozenset(grams)


def _distinctive(gram: tuple[str, ...]) -> bool:
    """A run like "if you do not know" is ordinary English; one with two long words is our wording."""
    return sum(len(w) >= 6 for w in gram) >= 2


def echoes_template(text: str) -> bool:
    words = _norm(text).split()
    grams = template_ngrams()
    return any(g in grams for g in zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False))


def delimit(document: str, max_chars: int) -> str:
    """Cut to max_chars and neutralise tags so document text can never close the template."""
    return DOC_CLOSE.sub("[document-tag]", (document or "")[:max_chars])


PROMPT_STYLES = ("fanno", "compact")
FEWSHOT_WORDS = 100  # FANNO cuts each few-shot example to 100 words, in the prompt only
OPENING_WORDS = 4  # "not phrased like": the first 4 words of each example


def seed_conversation(document: str, tags: dict[str, str], max_chars: int, style: str = "fanno") -> str:
    """FANNO's seed prompt: the paragraph the answerer cannot see, and the three tag definitions as numbered
    criteria. `compact`: a short system prompt plus a one-shot example (kept for tiny models)."""
    if style == "compact":
        return _compact_seed(document, tags, max_chars)
    from .tags import DIFFICULTY_DEFINITIONS, STYLE_DEFINITIONS, TASK_DEFINITIONS

    user = Template(template("fanno_seed.txt")).substitute(
        document=delimit(document, max_chars), difficulty_definition=DIFFICULTY_DEFINITIONS[tags["difficulty"]],
        style_definition=STYLE_DEFINITIONS[tags["style"]], task_definition=TASK_DEFINITIONS[tags["task_type"]])
    return json.dumps([{"role": "user", "content": user}], ensure_ascii=False)


def cut_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) if len(words) > n else text


def augment_conversation(document: str, examples: list[str], tags: dict[str, str], max_chars: int,
                         style: str = "fanno") -> str:
    """FANNO's "think different" prompt: the UCB's few-shots as counterexamples (each cut to 100 words
    here, never in the pool), the paragraph, and the rules, ending with their first words to avoid."""
    if style == "compact":
        return _compact_augment(document, examples, tags, max_chars)
    from .tags import AUGMENT_STYLE_RULES

    shots = [cut_words(DOC_CLOSE.sub("[document-tag]", e), FEWSHOT_WORDS) for e in examples]
    user = Template(template("fanno_augment.txt")).substitute(
        examples="\n".join(f"{i + 1}. {e}" for i, e in enumerate(shots)),
        document=delimit(document, max_chars), style_rule=AUGMENT_STYLE_RULES[tags["style"]],
        openings="\n".join(f'   - "{" ".join(e.split()[:OPENING_WORDS])}"' for e in shots))
    return json.dumps([{"role": "user", "content": user}], ensure_ascii=False)


def request_text(instruction: str, input_text: str | None) -> str:
    """What the answerer sees: the instruction, and its input below it when it has one (FANNO's q2a)."""
    return f"{instruction}\n{input_text}" if input_text else instruction


def respond_conversation(instruction: str, input_text: str | None = None, style: str = "fanno") -> str:
    system = template("fanno_respond_system.txt" if style == "fanno" else "compact_respond_system.txt")
    conv = [{"role": "system", "content": system}, {"role": "user", "content": request_text(instruction, input_text)}]
    return json.dumps(conv, ensure_ascii=False)


def respond_rag_conversation(instruction: str, document: str | None, neighbour: str | None, max_chars: int,
                             input_text: str | None = None, style: str = "fanno") -> str:
    """RAG mode: the instruction's own document plus its nearest neighbour (when it has one), delimited."""
    docs = "\n".join(f"<document>\n{delimit(d, max_chars)}\n</document>" for d in (document, neighbour) if d)
    name = "fanno_respond_rag_user.txt" if style == "fanno" else "compact_respond_rag_user.txt"
    user = Template(template(name)).substitute(documents=docs, instruction=request_text(instruction, input_text))
    system = template("fanno_respond_system.txt" if style == "fanno" else "compact_respond_system.txt")
    return json.dumps([{"role": "system", "content": system}, {"role": "user", "content": user}], ensure_ascii=False)


COMPACT_STYLE_HINTS = {"command": "an imperative command (e.g. 'Explain ...')", "question": "a direct question"}


def _compact_seed(document: str, tags: dict[str, str], max_chars: int) -> str:
    user = Template(template("compact_seed_user.txt"))
    example = user.substitute(document=template("compact_seed_example_document.txt"),
                              task_type="closed-book question answering", difficulty="critical thinking",
                              style_hint=COMPACT_STYLE_HINTS["question"])
    conv = [
        {"role": "system", "content": template("compact_system.txt")},
        {"role": "user", "content": example},
        {"role": "assistant", "content": template("compact_seed_example_answer.txt")},
        {"role": "user", "content": user.substitute(document=delimit(document, max_chars),
                                                    task_type=tags["task_type"], difficulty=tags["difficulty"],
                                                    style_hint=COMPACT_STYLE_HINTS[tags["style"]])},
    ]
    return json.dumps(conv, ensure_ascii=False)


def _compact_augment(document: str, examples: list[str], tags: dict[str, str], max_chars: int) -> str:
    shots = "\n".join(f"{i + 1}. {cut_words(e, FEWSHOT_WORDS)}" for i, e in enumerate(examples))
    user = Template(template("compact_augment_user.txt")).substitute(
        document=delimit(document, max_chars), examples=shots, task_type=tags["task_type"],
        style_hint=COMPACT_STYLE_HINTS[tags["style"]])
    conv = [{"role": "system", "content": template("compact_system.txt")}, {"role": "user", "content": user}]
    return json.dumps(conv, ensure_ascii=False)


LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:new\s+)?(?:instruction|question|task|command|prompt|q)"
                   r"\s*\d*\s*[:.)-]\s*(?:\*\*)?\s*", re.IGNORECASE)
LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
LEAK = re.compile(r"<\s*/?\s*document\s*>|\[document-tag\]|^\s*(task type|style|difficulty):|write one (new )?instruction|"
                  r"think different|example instructions written|inspired query|my query should|counterexamples?:|"
                  r"^\W*(paragraph|question|response)\W*$", re.IGNORECASE | re.MULTILINE)
DOC_LEAK = re.compile(r"<\s*/?\s*document\s*>|\[document-tag\]", re.IGNORECASE)  # for responses
REFUSAL = re.compile(r"^\s*(i'm sorry|i am sorry|sorry,|i cannot|i can't|as an ai\b)", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _words(text: str) -> set[str]:
    return set(_norm(text).split())


def _near_copy(candidate: str, avoided: list[set[str]], threshold: float = 0.7) -> bool:
    """Word-set Jaccard against the few-shot examples: a reworded copy is still a copy."""
    words = _words(candidate)
    return any(words and a and len(words & a) / len(words | a) >= threshold for a in avoided)


def is_request(text: str) -> bool:
    from .instruction_rules import is_request as rule

    return rule(text)


def parse_instruction(text: str | None, avoid: list[str] | tuple[str, ...] = (), min_words: int = 1
                      ) -> tuple[str | None, str | None]:
    """LLM text -> (instruction, None) or (None, reason); see split_instruction."""
    instruction, _, reason = split_instruction(text, avoid, min_words)
    return instruction, reason


POINTS_AT_INPUT = re.compile(r":\s*$|\b(?:the following|below)\b", re.IGNORECASE)
INPUT_WORDS = 300


def split_instruction(text: str | None, avoid: list[str] | tuple[str, ...] = (), min_words: int = 1
                      ) -> tuple[str | None, str | None, str | None]:
    """LLM text -> (instruction, input, None) or (None, None, reason).

    Small models wrap the instruction in labels, quotes, numbered lists and chatter, and often
    repeat the few-shot examples first: take the first line that is a plausible instruction of at
    least `min_words` words and is not (nearly) one of `avoid`. When only shorter lines exist, the
    first of them is returned, so the length rule downstream rejects it with its own reason.
    FANNO keeps the lines after the instruction as its `input` (the sentence to translate, the code to
    fix); here they are kept only when the instruction points at them (ends with ':' or says "the
    following" / "below"), because a small model's later lines are mostly its own answer.
    """
    if text is None or not text.strip():
        return None, None, "empty"
    avoided = {_norm(a) for a in avoid}
    avoided_words = [set(a.split()) for a in avoided]
    copied = leaked = False
    short: str | None = None
    statement: str | None = None
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if LEAK.search(line) or echoes_template(line):  # a template line echoed back: skip it, never keep it
            leaked = True
            continue
        candidate = _clean_line(line)
        if not re.search(r"[A-Za-z]{2}", candidate):
            continue
        if _norm(candidate) in avoided or _near_copy(candidate, avoided_words):
            copied = True
            continue
        if REFUSAL.match(candidate):
            return None, None, "refusal"
        if len(candidate.split()) < min_words:
            short = short or candidate
            continue
        if not is_request(candidate):  # chatter before the instruction ("Sure! Here is one:")
            statement = statement or candidate
            continue
        return candidate, _input_after(candidate, lines[i + 1:]), None
    if short is not None or statement is not None:  # rejected downstream with their own reason
        return short or statement, None, None
    return None, None, "template_leak" if leaked else "copied_example" if copied else "empty"


def _clean_line(line: str) -> str:
    candidate = LIST_MARK.sub("", LABEL.sub("", line.strip())).strip()
    return LIST_MARK.sub("", LABEL.sub("", candidate.lstrip("#> ").strip())).strip("\"'“”*` ").strip()


def _input_after(instruction: str, rest: list[str]) -> str | None:
    if not POINTS_AT_INPUT.search(instruction):
        return None
    kept = []
    for line in rest:
        if LEAK.search(line) or echoes_template(line) or INPUT_LABEL.match(line):
            break  # the model moved on to an answer or back to the template
        kept.append(line.strip().strip("\"'“”*`").rstrip())
    body = "\n".join(kept).strip()
    return " ".join(body.split()[:INPUT_WORDS]) if len(body.split()) > INPUT_WORDS else (body or None)


INPUT_LABEL = re.compile(r"^\s*(?:#+\s*)?(?:answer|response|output|solution|explanation)\s*[:.-]", re.IGNORECASE)


def parse_response(text: str | None, finish_reason: str | None) -> tuple[str | None, str | None]:
    if text is None or not text.strip():
        return None, "empty_response"
    if finish_reason == "length":
        return None, "truncated"
    if REFUSAL.match(text):
        return None, "refusal"
    if DOC_LEAK.search(text) or echoes_template(text):
        return None, "template_leak"
    return text.strip(), None


def banned_pattern(words: tuple[str, ...]) -> str:
    """Case-insensitive whole-word regex (Java and Python agree): 'know' never matches 'now'."""
    alts = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))
    return rf"(?i)\b(?:{alts})\b"
