"""Prompt builders (templates are package resources) and pure parsers for LLM output."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from string import Template

from pyspark.sql import types as T

from ..llm.types import Conversation
from ..prompts import DOC_CLOSE, delimit, template
from ..prompts.doc_budget import DocBudget, fitted
from .instruction_rules import POINTS_AT_INPUT, is_request

# What a parser UDF returns per row: the parsed value, or null and the reason it was rejected.
PARSED = T.StructType([T.StructField("value", T.StringType()), T.StructField("reason", T.StringType())])



LEAK_NGRAM = 5


@cache
def template_ngrams() -> frozenset[tuple[str, ...]]:
    """Word 5-grams of the prompts' scaffolding (every template and system prompt, placeholders cut out):
    generated text that repeats one of them is echoing our instructions, not producing data. The tag
    definitions are left out on purpose: they are the task's own words ("a natural language inference
    task", "a grade-school math word problem"), which a good instruction or response may well restate."""
    grams: set[tuple[str, ...]] = set()
    for f in resources.files("fanno_spark.prompts").iterdir():
        if f.name.endswith(".txt"):
            for piece in re.split(r"\$\w+", f.read_text(encoding="utf-8")):
                words = _norm(piece).split()
                grams.update(g for g in zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False) if _distinctive(g))
    return frozenset(grams)


def _distinctive(gram: tuple[str, ...]) -> bool:
    """A run like "if you do not know" is ordinary English; one with two long words is our wording."""
    return sum(len(w) >= 6 for w in gram) >= 2


def echoes_template(text: str) -> bool:
    words = _norm(text).split()
    grams = template_ngrams()
    return any(g in grams for g in zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False))


PROMPT_STYLES = ("fanno", "compact")
AUGMENT_PROMPT_TAGS = {"fanno": ("style",), "compact": ("task_type", "style")}  # the tags each augment prompt states
FEWSHOT_WORDS = 100  # FANNO cuts each few-shot example to 100 words, in the prompt only
OPENING_WORDS = 4  # "not phrased like": the first 4 words of each example


def seed_conversation(document: str, tags: dict[str, str], budget: DocBudget | None = None,
                      style: str = "fanno") -> Conversation:
    """FANNO's seed prompt: the paragraph the answerer cannot see, and the three tag definitions as numbered
    criteria. `compact`: a short system prompt plus a one-shot example (kept for tiny models). The document
    is whole where the budget allows (None: always)."""
    return fitted(lambda d: _seed(d, tags, style), [document], budget)


def _seed(document: str, tags: dict[str, str], style: str) -> Conversation:
    if style == "compact":
        return _compact_seed(document, tags)
    from .tags import DIFFICULTY_DEFINITIONS, STYLE_DEFINITIONS, TASK_DEFINITIONS

    user = Template(template("fanno_seed.txt")).substitute(
        document=delimit(document), difficulty_definition=DIFFICULTY_DEFINITIONS[tags["difficulty"]],
        style_definition=STYLE_DEFINITIONS[tags["style"]], task_definition=TASK_DEFINITIONS[tags["task_type"]])
    return [{"role": "user", "content": user}]


def cut_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) if len(words) > n else text


def augment_conversation(document: str, examples: list[str], tags: dict[str, str], budget: DocBudget | None = None,
                         style: str = "fanno") -> Conversation:
    """FANNO's "think different" prompt: the UCB's few-shots as counterexamples (each cut to 100 words
    here, never in the pool), the paragraph, and the rules, ending with their first words to avoid."""
    return fitted(lambda d: _augment(d, examples, tags, style), [document], budget)


def _augment(document: str, examples: list[str], tags: dict[str, str], style: str) -> Conversation:
    if style == "compact":
        return _compact_augment(document, examples, tags)
    from .tags import AUGMENT_STYLE_RULES

    shots = [cut_words(DOC_CLOSE.sub("[document-tag]", e), FEWSHOT_WORDS) for e in examples]
    user = Template(template("fanno_augment.txt")).substitute(
        examples="\n".join(f"{i + 1}. {e}" for i, e in enumerate(shots)),
        document=delimit(document), style_rule=AUGMENT_STYLE_RULES[tags["style"]],
        openings="\n".join(f'   - "{" ".join(e.split()[:OPENING_WORDS])}"' for e in shots))
    return [{"role": "user", "content": user}]


def request_text(instruction: str, input_text: str | None) -> str:
    """What the answerer sees: the instruction, and its input below it when it has one (FANNO's q2a)."""
    return f"{instruction}\n{input_text}" if input_text else instruction


def respond_conversation(instruction: str, input_text: str | None = None, style: str = "fanno") -> Conversation:
    system = template("fanno_respond_system.txt" if style == "fanno" else "compact_respond_system.txt")
    conv = [{"role": "system", "content": system}, {"role": "user", "content": request_text(instruction, input_text)}]
    return conv


def respond_rag_conversation(instruction: str, document: str | None, neighbour: str | None,
                             budget: DocBudget | None = None, input_text: str | None = None,
                             style: str = "fanno") -> Conversation:
    """RAG mode: the instruction's own document plus its nearest neighbour (when it has one), delimited; the
    two share the budget (a short one leaves its spare to the other)."""
    return fitted(lambda d, n: _rag(instruction, d, n, input_text, style), [document, neighbour], budget)


def _rag(instruction: str, document: str | None, neighbour: str | None, input_text: str | None, style: str) -> Conversation:
    docs = "\n".join(f"<document>\n{delimit(d)}\n</document>" for d in (document, neighbour) if d is not None)
    name = "fanno_respond_rag_user.txt" if style == "fanno" else "compact_respond_rag_user.txt"
    user = Template(template(name)).substitute(documents=docs, instruction=request_text(instruction, input_text))
    system = template("fanno_respond_system.txt" if style == "fanno" else "compact_respond_system.txt")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


COMPACT_STYLE_HINTS = {"command": "an imperative command (e.g. 'Explain ...')", "question": "a direct question"}


def _compact_seed(document: str, tags: dict[str, str]) -> Conversation:
    user = Template(template("compact_seed_user.txt"))
    example = user.substitute(document=template("compact_seed_example_document.txt"),
                              task_type="closed-book question answering", difficulty="critical thinking",
                              style_hint=COMPACT_STYLE_HINTS["question"])
    conv = [
        {"role": "system", "content": template("compact_system.txt")},
        {"role": "user", "content": example},
        {"role": "assistant", "content": template("compact_seed_example_answer.txt")},
        {"role": "user", "content": user.substitute(document=delimit(document),
                                                    task_type=tags["task_type"], difficulty=tags["difficulty"],
                                                    style_hint=COMPACT_STYLE_HINTS[tags["style"]])},
    ]
    return conv


def _compact_augment(document: str, examples: list[str], tags: dict[str, str]) -> Conversation:
    shots = "\n".join(f"{i + 1}. {cut_words(e, FEWSHOT_WORDS)}" for i, e in enumerate(examples))
    user = Template(template("compact_augment_user.txt")).substitute(
        document=delimit(document), examples=shots, task_type=tags["task_type"],
        style_hint=COMPACT_STYLE_HINTS[tags["style"]])
    conv = [{"role": "system", "content": template("compact_system.txt")}, {"role": "user", "content": user}]
    return conv


LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:new\s+)?(?:instruction|question|task|command|prompt|query|q)"
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


def parse_instruction(text: str | None, avoid: list[str] | tuple[str, ...] = (), min_words: int = 1
                      ) -> tuple[str | None, str | None]:
    """LLM text -> (instruction, None) or (None, reason); see split_instruction."""
    instruction, _, reason = split_instruction(text, avoid, min_words)
    return instruction, reason


# "Sure! Here's a new instruction:", "Here is my question:", "Okay." -- a wrapper, not the task; what follows
# its colon on the same line is the task.
CHATTER_LINE = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok|absolutely|great|alright|yes)\b[\s,!.]*)?"
    r"(?:(?:here(?:'s| is| are)|below is|i'?ll write|i will write|i'?ve written|this is)\b[^:]*?"
    r"\b(?:instructions?|questions?|quer(?:y|ies)|tasks?|prompts?|one|attempt|version|examples?)\b[^:]*?(?::|[.!]?$))",
    re.IGNORECASE)
INTERJECTION = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|great|alright)\s*[,!.]\s+(?=\S)", re.IGNORECASE)
BARE_CHATTER = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|great|alright)\b[\s\w,]{0,20}[!.]?\s*$",
                          re.IGNORECASE)
# A label that opens the material the instruction works on ("Sentence 1:", "Premise:", "Code:", "A)").
INPUT_LABEL = re.compile(
    r"^\s*(?:\*\*)?\s*(?:input|sentences?|texts?|code|premise|hypothesis|statements?|reviews?|options?|choices|data|"
    r"passage|context|paragraph|string|list|array|numbers?|words?|email|tweet|headline|title|table|json|poem|story|"
    r"dialogue|conversation|claim|argument|scenario|equation|expression|sequence|items?)\s*\d*\s*(?:\*\*)?\s*[:=]"
    r"|^\s*\(?[A-Da-d][.)]\s+\S", re.IGNORECASE)
# Where the model moves from the task to its own answer or remarks.
ANSWER_LABEL = re.compile(r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:answers?|responses?|outputs?|solutions?|explanations?|"
                          r"results?|notes?|reasoning|hints?|rationale)\s*(?:\*\*)?\s*[:.-]", re.IGNORECASE)
NEXT_INSTRUCTION = re.compile(r"^\s*(?:\*\*)?\s*(?:new\s+)?(?:instruction|question|task|query|prompt)\s*\d+\s*[:.)]",
                              re.IGNORECASE)
NUMBERED = re.compile(r"^\s*(?:\*\*)?\s*(?:(?:instruction|question|task|query|prompt|q)\s*)?(\d+)\s*[.):]", re.IGNORECASE)
PREMISE_LINES = 8  # statement lines absorbed before the question they set up
HEADING_WORDS = 6


def split_instruction(text: str | None, avoid: list[str] | tuple[str, ...] = (), min_words: int = 1,
                      finish_reason: str | None = None) -> tuple[str | None, str | None, str | None]:
    """LLM text -> (instruction, input, None) or (None, None, reason).

    As FANNO's parser (utils/data_utils.py, instruction_cleaning) the first line of the output is the
    instruction and the lines after it are its `input`; around that, what models wrap the task in is
    skipped: template lines echoed back, labels and headings ("**Question 1:**", "Math Problem"), wrappers
    ("Sure! Here is a new instruction:") and copies of the few-shot examples (`avoid`). Two differences:
    - a first line that asks nothing (a premise: "A farmer has 3 fields of 12 hectares each.") keeps the
      lines after it up to the question it sets up as one multi-line instruction, never the question alone;
    - the lines after the instruction are its input only where they are the material it works on: it points
      at them ("... the following sentence:", "Classify this review.", a premise's question that ends in
      ':'), or they carry an input label ("Premise:", "Code:", "A)"); a complete question or command
      followed by prose is the model answering itself, and that answer is not kept.
    An answer label ("Answer:", "Explanation:"), the next numbered instruction, or an echo ends the input.
    With `finish_reason` "length" and the kept text running to the end of the output, it is `truncated`.
    `min_words` is left to the length rule downstream (a short first line is returned as it is).
    """
    if text is None or not text.strip():
        return None, None, "empty"
    avoided = {_norm(a) for a in avoid}
    avoided_words = [set(a.split()) for a in avoided]
    copied = leaked = remark = False
    lines = _join_wrapped([ln.rstrip() for ln in _unwrap(text.strip().strip("*").strip()).splitlines()])
    start, first_raw = None, ""
    for i, line in enumerate(lines):
        if LEAK.search(line) or echoes_template(line):  # a template line echoed back: skip it, never keep it
            leaked = True
            continue
        candidate = _clean_line(INTERJECTION.sub("", _clean_line(line)))
        wrapper = CHATTER_LINE.match(candidate)
        if wrapper:  # "Here's a new instruction: Describe ..." keeps what follows the colon
            candidate = _clean_line(candidate[wrapper.end():]) if wrapper.group(0).rstrip().endswith(":") else ""
        if BARE_CHATTER.match(candidate) or not re.search(r"[A-Za-z]{2}", candidate):
            continue
        if _norm(candidate) in avoided or _near_copy(candidate, avoided_words):
            copied = True
            continue
        if REFUSAL.match(candidate):
            return None, None, "refusal"
        if ANSWER_LABEL.match(candidate):  # "Answer: ...", "Note: ..." before any instruction: a remark
            remark = True
            continue
        if _heading(candidate) and any(re.search(r"[A-Za-z]{2}", ln) for ln in lines[i + 1:]):
            continue
        start, first_raw = i, line
        lines[i] = candidate
        break
    if start is None:
        return None, None, ("template_leak" if leaked else "copied_example" if copied
                            else "not_a_request" if remark else "empty")
    block, rest = [lines[start]], lines[start + 1:]
    asking = lines[start]
    # a premise: absorb the statement lines up to the question it sets up (not for item 1 of a numbered list:
    # that is one of several candidates, and the others are no premise)
    if not is_request(asking) and not NUMBERED.match(first_raw):
        seen_numbers = {0}
        for j, line in enumerate(rest[:PREMISE_LINES]):
            n = NUMBERED.match(line)
            if _ends_task(line, first_raw) or (n and int(n.group(1)) - 1 not in seen_numbers):
                break  # "2." with no "1." above: the model's list of candidates, the first line unnumbered
            if n:
                seen_numbers.add(int(n.group(1)))
            if is_request(_clean_line(line)):
                block, rest, asking = block + rest[:j + 1], rest[j + 1:], line
                break
    # a command that sets a scene ("Consider two friends, Ana and Ben. ...") and the question on the next line
    # are one task; a complete question followed by another line is not merged (that is the model moving on)
    nxt = next((j for j, ln in enumerate(rest) if ln.strip()), None)
    if (nxt is not None and "?" not in asking and not POINTS_AT_INPUT.search(asking) and not _points_with_article(asking)
            and "?" in rest[nxt] and not _ends_task(rest[nxt], first_raw) and not INPUT_LABEL.match(rest[nxt])
            and is_request(_clean_line(rest[nxt]))):
        block, asking, rest = block + rest[:nxt + 1], rest[nxt], rest[nxt + 1:]
    instruction = "\n".join(ln.strip() for ln in block if ln.strip())
    kept: list[str] = []
    if rest and (POINTS_AT_INPUT.search(asking) or _points_with_article(asking) or INPUT_LABEL.match(rest[0])
                 or (len(block) > 1 and asking.rstrip().endswith(":"))):
        for line in rest:
            if _ends_task(line, first_raw):
                break
            kept.append(line)
    input_text = "\n".join(kept).strip("\n")
    input_text = "\n".join(ln.rstrip() for ln in input_text.splitlines()).strip() or None
    if finish_reason == "length" and len(rest) == len(kept):  # the cut falls inside what is kept
        return None, None, "truncated"
    return instruction, input_text, None


def _join_wrapped(lines: list[str]) -> list[str]:
    """Prose hard-wrapped mid-sentence (a line without closing punctuation, the next starting in lower case)
    is one line; code fences are left as they are."""
    out: list[str] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append(line)
            continue
        prev = out[-1] if out else ""
        if (not fenced and prev.strip() and line[:1].islower() and not prev.rstrip().endswith((".", "?", "!", ":", ";"))
                and not prev.lstrip().startswith(("```", "-", "*", "|"))):
            out[-1] = prev.rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


def _heading(line: str) -> bool:
    """A short title line ("Sentiment Analysis Task", "Math Problem:") that asks nothing."""
    words = line.split()
    return (len(words) <= HEADING_WORDS and not line.rstrip().endswith((".", "?", "!"))
            and not is_request(line.rstrip(":")))


def _ends_task(line: str, first: str) -> bool:
    """The model moves on: an answer label, the next numbered instruction, an echo, or chatter."""
    if ANSWER_LABEL.match(line) or NEXT_INSTRUCTION.match(line) or LEAK.search(line) or echoes_template(line):
        return True
    from .instruction_rules import ASSISTANT_CHATTER

    if ASSISTANT_CHATTER.search(line):
        return True
    n_first, n_line = NUMBERED.match(first), NUMBERED.match(line)
    return bool(n_line and n_first and int(n_line.group(1)) == int(n_first.group(1)) + 1 and is_request(
        _clean_line(line)))


POINTS_WITH_ARTICLE = re.compile(r"\bthe\s+(?:sentences?|texts?|statements?|code|snippet|function|program|script|"
                                 r"list|array|reviews?|tweets?|email|words?|phrases?|numbers|equation|expression|"
                                 r"premise|hypothesis|string|data|table|poem|dialogue|conversation|items|options)\b",
                                 re.IGNORECASE)


def _points_with_article(instruction: str) -> bool:
    """A command on "the sentence" / "the code" with lines below it works on them; a question on "the
    sentence structure of Japanese" followed by prose is more often answered by the model itself."""
    return not instruction.rstrip().endswith("?") and POINTS_WITH_ARTICLE.search(instruction) is not None


def _unwrap(text: str) -> str:
    """Strip markup and quotes that wrap the whole text; a quote that closes quoted material stays."""
    while True:
        t = text.strip().strip("*").strip()
        for a, b in (('"', '"'), ("“", "”"), ("'", "'"), ("`", "`")):
            if len(t) > 1 and t.startswith(a) and t.endswith(b) and a not in t[1:-1] and b not in t[1:-1]:
                t = t[1:-1]
        if t == text:
            return t
        text = t


def _clean_line(line: str) -> str:
    candidate = LIST_MARK.sub("", LABEL.sub("", line.strip())).strip()
    return _unwrap(LIST_MARK.sub("", LABEL.sub("", candidate.lstrip("#> ").strip())))


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
