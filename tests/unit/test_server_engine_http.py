"""OpenAIServerEngine against a real HTTP server on 127.0.0.1 that scripts failures (429, 503,
timeouts, 400, 401), so retries, backoff, concurrency and key handling are exercised over sockets.
The real `vllm serve` runs in tests/e2e/test_server_engine.py."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fanno_spark.llm.server_engine import EngineError, OpenAIServerEngine, parse_completion
from fanno_spark.llm.types import EngineSpec, Sampling

KEY = "sk-test-0123456789-secret"


class Script:
    def __init__(self, statuses):
        self.statuses = list(statuses)  # consumed per request; then 200
        self.lock = threading.Condition()
        self.requests = []
        self.in_flight = self.max_in_flight = 0


def completion(text, logprobs=None):
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs:
        choice["logprobs"] = {"content": [{"token": "1", "logprob": -0.1,
                                           "top_logprobs": [{"token": t, "logprob": v} for t, v in logprobs.items()]}]}
    return {"choices": [choice], "usage": {"prompt_tokens": 11, "completion_tokens": 3}}


@pytest.fixture
def server():
    def start(statuses, delay=0.0, first_waits_for_a_second=False):
        script = Script(statuses)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with script.lock:
                    script.requests.append((self.headers.get("Authorization"), body))
                    status = script.statuses.pop(0) if script.statuses else 200
                    script.in_flight += 1
                    script.max_in_flight = max(script.max_in_flight, script.in_flight)
                    script.lock.notify_all()
                    if first_waits_for_a_second and len(script.requests) == 1:
                        # a loaded machine may start the client's threads late: hold the first request until a
                        # second one is in flight (a client that never overlaps requests times out here)
                        script.lock.wait_for(lambda: script.in_flight >= 2, timeout=10)
                try:
                    if status == "sleep":
                        time.sleep(1.5)
                        status = 200
                    time.sleep(delay)
                    payload = completion("echo: " + body["messages"][-1]["content"],
                                         {"1": -0.2, "0": -1.8} if body.get("logprobs") else None)
                    data = json.dumps(payload if status == 200 else {"error": "scripted"}).encode()
                finally:  # answered: before the client can read it and send its next request
                    with script.lock:
                        script.in_flight -= 1
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return script, f"http://127.0.0.1:{httpd.server_address[1]}/v1"

    servers = []
    yield start
    for s in servers:
        s.shutdown()


def engine(url, **kw):
    spec = EngineSpec(kind="openai", model="m", base_url=url, api_key_env="FANNO_TEST_KEY", backoff_s=0.01,
                      **kw)
    e = OpenAIServerEngine(spec)
    e.load()
    return e


def conv(i):
    return [{"role": "user", "content": f"prompt {i}"}]


def test_generates_in_order_with_usage_and_bearer_key(server, monkeypatch):
    monkeypatch.setenv("FANNO_TEST_KEY", KEY)
    script, url = server([])
    gens = engine(url).generate([conv(i) for i in range(5)], Sampling(max_tokens=8))
    assert [g.text for g in gens] == [f"echo: prompt {i}" for i in range(5)]
    assert all(g.prompt_tokens == 11 and g.completion_tokens == 3 and g.logprobs is None for g in gens)
    assert {auth for auth, _ in script.requests} == {f"Bearer {KEY}"}
    assert script.requests[0][1]["max_tokens"] == 8 and "logprobs" not in script.requests[0][1]


def test_retries_429_503_and_timeouts_then_succeeds(server):
    script, url = server([429, 503, 502, "sleep"])
    gens = engine(url, concurrency=1, request_timeout_s=0.5, max_retries=5).generate([conv(0)], Sampling(4))
    assert gens[0].text == "echo: prompt 0"
    assert len(script.requests) == 5  # 429, 503, 502, a timed-out request, then the answer


def test_gives_up_after_max_retries_with_a_clear_error(server, monkeypatch):
    monkeypatch.setenv("FANNO_TEST_KEY", KEY)
    script, url = server([503] * 10)
    with pytest.raises(EngineError, match="still failing after 2 retries") as err:
        engine(url, max_retries=2).generate([conv(0)], Sampling(4))
    assert len(script.requests) == 3 and KEY not in str(err.value)


def test_unauthorised_stops_at_once_without_leaking_the_key(server, monkeypatch):
    monkeypatch.setenv("FANNO_TEST_KEY", KEY)
    script, url = server([401])
    with pytest.raises(EngineError, match="HTTP 401") as err:
        engine(url).generate([conv(0)], Sampling(4))
    assert len(script.requests) == 1 and KEY not in str(err.value) and KEY not in repr(err.value)


def test_bad_request_is_a_counted_empty_generation_not_a_crash(server):
    _, url = server([400])
    gens = engine(url, concurrency=1).generate([conv(0), conv(1)], Sampling(4))
    assert gens[0].text == "" and gens[0].finish_reason == "error_400"
    assert gens[1].text == "echo: prompt 1"


def test_concurrency_is_bounded(server):
    script, url = server([], delay=0.05, first_waits_for_a_second=True)
    engine(url, concurrency=3).generate([conv(i) for i in range(24)], Sampling(4))
    assert len(script.requests) == 24 and 2 <= script.max_in_flight <= 3


def test_logprobs_requested_and_parsed(server):
    script, url = server([])
    g = engine(url).generate([conv(0)], Sampling(1, logprobs=5))[0]
    assert script.requests[0][1]["top_logprobs"] == 5 and script.requests[0][1]["logprobs"] is True
    assert g.logprobs == {"1": -0.2, "0": -1.8}


def test_parse_completion_tolerates_missing_fields():
    g = parse_completion({})
    assert (g.text, g.finish_reason, g.prompt_tokens, g.completion_tokens, g.logprobs) == ("", "stop", 0, 0, None)
    g = parse_completion({"choices": [{"message": {"content": None}, "finish_reason": "length"}]})
    assert g.text == "" and g.finish_reason == "length"


def test_stream_replaces_each_finished_request_at_once(server):
    """A slow answer holds one slot, never the others: the five quick ones finish while it runs."""
    from fanno_spark.llm.types import Occupancy

    script, url = server(["sleep"])  # the first request takes 1.5 s, the rest answer at once
    occupancy = Occupancy()
    order = [key for key, _ in engine(url, concurrency=2).stream(((i, conv(i)) for i in range(6)), Sampling(4),
                                                                  occupancy)]
    slow = int(script.requests[0][1]["messages"][-1]["content"].split()[-1])  # the first request to arrive
    assert order[-1] == slow and sorted(order) == list(range(6)) and script.max_in_flight == 2
    assert occupancy.peak == 2 and occupancy.steps == 6
