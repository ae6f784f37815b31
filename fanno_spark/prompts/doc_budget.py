"""How much of a document fits a prompt, in tokens of the model's context: prompt + documents + the stage's
`max_tokens` <= `llm.max_model_len`. FANNO gives the model the whole document; here too, as far as the
context allows, unless `llm.max_doc_tokens` sets a smaller budget per document. A document longer than its
share is cut at a token boundary (never mid-character), and the prompt says nothing else changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

CHAT_TOKENS_PER_MESSAGE = 8  # without the model's chat template: role markers and separators per message
MARGIN = 16
CHARS_PER_TOKEN = 3  # without a tokenizer (a served model by name, the fake engine): English runs ~4


@cache
def _tokenizer(path: str):
    """The model's own tokenizer from its local folder, once per Python worker; None where there is none."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception:  # a hub id not cached, a served model name, "fake": fall back to the estimate
        return None


@dataclass(frozen=True)
class DocBudget:
    tokenizer: str | None  # the model's folder (or a name without one: estimated)
    context: int  # llm.max_model_len
    reserve: int  # the stage's max_tokens
    cap: int | None = None  # llm.max_doc_tokens: at most this many tokens per document; None: whatever fits

    @classmethod
    def of(cls, llm, tokenizer: str | None, max_tokens: int, cap: int | None = None) -> DocBudget:
        """A stage's budget: the `llm` section's context less the stage's max_tokens; its cap, else
        llm.max_doc_tokens."""
        return cls(tokenizer=tokenizer, context=llm.max_model_len, reserve=max_tokens,
                   cap=cap if cap is not None else llm.max_doc_tokens)

    def count(self, text: str) -> int:
        tok = _tokenizer(self.tokenizer) if self.tokenizer else None
        if tok is None:
            return -(-len(text) // CHARS_PER_TOKEN)
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def cut(self, text: str, tokens: int) -> str:
        """The longest head of `text` of at most `tokens` tokens, ending on a token boundary."""
        if tokens <= 0:
            return ""
        tok = _tokenizer(self.tokenizer) if self.tokenizer else None
        if tok is None:
            return text[:tokens * CHARS_PER_TOKEN]
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) <= tokens:
            return text
        return text[:enc["offset_mapping"][tokens - 1][1]]

    def conversation_tokens(self, messages: list[dict[str, str]]) -> int:
        """As the engine will see it: through the model's chat template (which may add a default system
        prompt), else the contents plus an allowance per message."""
        tok = _tokenizer(self.tokenizer) if self.tokenizer else None
        if tok is not None and getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return len(tok(text, add_special_tokens=False)["input_ids"])
        return sum(self.count(m["content"]) + CHAT_TOKENS_PER_MESSAGE for m in messages)

    def fit(self, build: Callable[..., list], documents: list[str | None]) -> list:
        """build(*documents) -> a conversation, with each present document cut to its share of the room the
        rest of the prompt leaves; a document that needs less than its share leaves the rest to the others."""
        empty = build(*["" if d else d for d in documents])
        room = self.context - self.reserve - MARGIN - self.conversation_tokens(empty)
        present = [i for i, d in enumerate(documents) if d]
        need = {i: self.count(documents[i]) for i in present}
        if self.cap is not None:
            need = {i: min(n, self.cap) for i, n in need.items()}
        share: dict[int, int] = {}
        left = max(0, room)
        for k, i in enumerate(sorted(present, key=lambda j: need[j])):  # smallest first: their spare goes on
            share[i] = min(need[i], left // (len(present) - k))
            left -= share[i]
        return build(*[self.cut(d, share[i]) if i in share else d for i, d in enumerate(documents)])


def fitted(build: Callable[..., list], documents: list[str | None], budget: DocBudget | None) -> list:
    return build(*documents) if budget is None else budget.fit(build, documents)
