"""Root verb and its object noun of an instruction, as in FANNO's / Self-Instruct's verb–noun chart.

They parse with a constituency parser; no tagger model ships offline here, so this is a lexicon
heuristic: the first known instruction verb among the first words (after "please", wh-words and
auxiliaries), then the first following content word as its noun. Instructions without a match
return None and are reported as uncovered, not guessed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

WORD = re.compile(r"[a-z][a-z'-]*")
# Words between a verb and its object that are not the object (determiners, pronouns, modifiers).
SKIP = frozenset("""a an the this that these those some any each every all its their his her our your my me us
them it you him one two three few several many more most following given short brief simple detailed
new different possible main key other same such own up out down""".split())
# Words that end the object's noun phrase; its head noun is the last content word before one.
BOUNDARY = frozenset("""that which who whom to for of in on with about into from by as and or between using
based than where when how what whether if is are be so while""".split())
LEAD = frozenset("please kindly now then also first next finally carefully briefly".split())
WH = frozenset("what which how why when where who whom whose can could would should will do does did is are".split())


@lru_cache(maxsize=1)
def verbs() -> frozenset[str]:
    text = resources.files("fanno_spark.text").joinpath("instruction_verbs.txt").read_text()
    return frozenset(w for line in text.splitlines() if not line.startswith("#") for w in line.split())


def verb_noun(instruction: str | None, window: int = 6) -> tuple[str, str] | None:
    """("write", "function") for "Write a short Python function that ..."; None when no verb matches."""
    if not instruction:
        return None
    words = WORD.findall(instruction.lower())[:40]
    known = verbs()
    for i, w in enumerate(words[:window]):
        if w in LEAD or w in WH:
            continue
        if w in known:
            phrase = []
            for x in words[i + 1:i + 7]:
                if x in BOUNDARY:
                    break
                phrase.append(x)
            content = [x for x in phrase if x not in SKIP and len(x) > 2]
            return (w, _singular(content[-1])) if content else None
    return None


def _singular(noun: str) -> str:
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith("s") and not noun.endswith(("ss", "us", "is")) and len(noun) > 3:
        return noun[:-1]
    return noun
