"""OpenAI-compatible chat-completions engine (`vllm serve`, or any compatible endpoint).

Bounded concurrency (a thread pool per worker), retries with exponential backoff and jitter on
429 / 5xx / timeouts / dropped connections (Retry-After honoured), the API key read from the
environment variable the config names. The key is only ever put in the Authorization header:
never in the spec, the config, MLflow params, logs or exception messages.
"""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from .types import Conversation, EngineSpec, Generation, Sampling

log = logging.getLogger("fanno_spark.server_engine")
RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL = {401, 403, 404}  # wrong key, no access, wrong URL or model: no prompt can succeed


class EngineError(RuntimeError):
    """The endpoint cannot serve the job (bad key, wrong URL/model, or still failing after retries)."""


class OpenAIServerEngine:
    def __init__(self, spec: EngineSpec):
        if not spec.base_url:
            raise EngineError("llm.base_url is required for llm.engine=openai")
        self.spec = spec
        self.session = None
        self._pool: ThreadPoolExecutor | None = None

    def load(self) -> None:
        import requests

        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self.spec.concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        key = os.environ.get(self.spec.api_key_env, "") if self.spec.api_key_env else ""
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
        self._pool = ThreadPoolExecutor(max_workers=self.spec.concurrency, thread_name_prefix="llm-http")

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]:
        if self.session is None:
            self.load()
        return list(self._pool.map(lambda c: self._one(c, sampling), conversations))

    def _body(self, conversation: Conversation, sampling: Sampling) -> dict:
        body = {"model": self.spec.model, "messages": conversation, "max_tokens": sampling.max_tokens,
                "temperature": sampling.temperature, "top_p": sampling.top_p}
        if sampling.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = sampling.logprobs
        return body

    def _one(self, conversation: Conversation, sampling: Sampling) -> Generation:
        import requests

        url = self.spec.base_url.rstrip("/") + "/chat/completions"
        body = self._body(conversation, sampling)
        last = ""
        for attempt in range(self.spec.max_retries + 1):
            try:
                resp = self.session.post(url, json=body, timeout=self.spec.request_timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = type(exc).__name__
                resp = None
            if resp is not None:
                if resp.status_code == 200:
                    return parse_completion(resp.json())
                if resp.status_code in FATAL:
                    raise EngineError(f"{url}: HTTP {resp.status_code} ({_short(resp.text)}); check llm.base_url, "
                                      f"llm.model and the key in ${self.spec.api_key_env}")
                if resp.status_code not in RETRYABLE:
                    # This prompt cannot be served (e.g. 400: too long): a counted empty generation.
                    return Generation("", f"error_{resp.status_code}", 0, 0)
                last = f"HTTP {resp.status_code}"
            if attempt == self.spec.max_retries:
                break
            delay = _retry_after(resp) or min(self.spec.backoff_max_s, self.spec.backoff_s * 2 ** attempt)
            delay *= 1 + 0.25 * random.random()  # jitter: retries from many tasks do not line up
            log.warning("%s: %s, retry %d/%d in %.1fs", url, last, attempt + 1, self.spec.max_retries, delay)
            time.sleep(delay)
        raise EngineError(f"{url}: still failing after {self.spec.max_retries} retries ({last})")

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown(wait=False)
        if self.session:
            self.session.close()
        self.session = self._pool = None


def _retry_after(resp) -> float | None:
    if resp is None:
        return None
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _short(text: str) -> str:
    return " ".join((text or "").split())[:200]


def parse_completion(data: dict) -> Generation:
    """An OpenAI chat.completion JSON -> Generation (first choice; first token's top log-probs)."""
    choice = (data.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    usage = data.get("usage") or {}
    lps = None
    content = (choice.get("logprobs") or {}).get("content") or []
    if content:
        lps = {}
        for item in content[0].get("top_logprobs") or [{"token": content[0].get("token"),
                                                          "logprob": content[0].get("logprob")}]:
            tok, lp = item.get("token"), item.get("logprob")
            if isinstance(tok, str) and isinstance(lp, (int, float)):
                lps[tok] = max(lps.get(tok, float("-inf")), float(lp))
    return Generation(text, choice.get("finish_reason") or "stop", int(usage.get("prompt_tokens") or 0),
                      int(usage.get("completion_tokens") or 0), lps or None)
