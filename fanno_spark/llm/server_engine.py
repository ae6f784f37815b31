"""OpenAI-compatible chat-completions engine (`vllm serve`, or any compatible endpoint).

Bounded concurrency (a thread pool per worker), retries by urllib3's Retry (exponential backoff with
jitter on 429 / 5xx / timeouts / dropped connections, Retry-After honoured), the API key read from the
environment variable the config names. The key is only ever put in the Authorization header:
never in the spec, the config, MLflow params, logs or exception messages.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from .types import Conversation, EngineSpec, Generation, Occupancy, Sampling

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
        self.retried = 0  # requests sent again after a 429 / 5xx / timeout, over the engine's life
        self._count_lock = threading.Lock()

    def load(self) -> None:
        import requests
        from urllib3.util import Retry

        spec = self.spec
        # POST is retried too: a chat completion has no side effect the job could see twice
        retry = Retry(total=spec.max_retries, status_forcelist=RETRYABLE, allowed_methods=frozenset({"POST"}),
                      backoff_factor=spec.backoff_s, backoff_max=spec.backoff_max_s, backoff_jitter=spec.backoff_s,
                      respect_retry_after_header=True, raise_on_status=False)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=spec.concurrency, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        key = os.environ.get(self.spec.api_key_env, "") if self.spec.api_key_env else ""
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
        self._pool = ThreadPoolExecutor(max_workers=self.spec.concurrency, thread_name_prefix="llm-http")

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]:
        answers = dict(self.stream(enumerate(conversations), sampling))
        return [answers[i] for i in range(len(conversations))]

    def stream(self, items: Iterable[tuple[str, Conversation]], sampling: Sampling,
               occupancy: Occupancy | None = None) -> Iterator[tuple[str, Generation]]:
        """`llm.concurrency` requests in flight at all times: a finished one is replaced at once, never after
        the slowest of a batch."""
        if self.session is None:
            self.load()
        source, in_flight = iter(items), {}
        while True:
            for key, conv in itertools.islice(source, self.spec.concurrency - len(in_flight)):
                in_flight[self._pool.submit(self._one, conv, sampling)] = key
            if not in_flight:
                return
            if occupancy is not None:
                occupancy.record(len(in_flight))
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                yield in_flight.pop(future), future.result()

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
        try:  # the adapter's Retry has retried what can be retried by the time an answer or an error comes back
            resp = self.session.post(url, json=self._body(conversation, sampling), timeout=self.spec.request_timeout_s)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise EngineError(f"{url}: still failing after {self.spec.max_retries} retries "
                              f"({type(exc).__name__})") from None
        history = getattr(getattr(resp.raw, "retries", None), "history", None) or ()
        if history:  # billed or not, a retried request is work the ledger shows (failed_tasks, retried)
            with self._count_lock:
                self.retried += len(history)
        if resp.status_code == 200:
            return parse_completion(resp.json())
        if resp.status_code in FATAL:
            raise EngineError(f"{url}: HTTP {resp.status_code} ({_short(resp.text)}); check llm.base_url, "
                              f"llm.model and the key in ${self.spec.api_key_env}")
        if resp.status_code in RETRYABLE:
            raise EngineError(f"{url}: still failing after {self.spec.max_retries} retries (HTTP {resp.status_code})")
        # This prompt cannot be served (e.g. 400: too long): a counted empty generation.
        return Generation("", f"error_{resp.status_code}", 0, 0)

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown(wait=False)
        if self.session:
            self.session.close()
        self.session = self._pool = None


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
