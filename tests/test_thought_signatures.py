"""Thought signatures end to end: SDKs and raw clients -> gunicorn + gevent -> the strict fake Gemini 3.

The fake signs every functionCall it returns on `gemini-3*` and refuses a later history whose calls lost
their signature or carry one it never issued, as Google does.
"""

import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
import requests
from google.genai import types

from gateway.accounts.pool import fingerprint
from gateway.accounts.signatures import SqliteSignatures, call_key
from tests import test_redis
from tests.fake_upstream import SIGNATURE_SENTINELS, Reply, function_call, normalised_signature
from tests.sdk_helper import genai_client, legacy, point_legacy_at
from tests.test_fake_upstream import call, sse, token

GEMINI3 = "/v1beta/models/gemini-3-flash"
SENTINEL = "skip_thought_signature_validator"


def get_weather(city: str, days: int) -> dict:
    """The forecast for a city."""
    return {"city": city, "forecast": "sunny", "days": days}


def text(reply: str) -> Reply:
    return Reply(events=[{"candidates": [{"content": {"role": "model", "parts": [{"text": reply}]}}]}])


def tool_call(city: str, days: int) -> Reply:
    return Reply(events=[function_call("get_weather", {"city": city, "days": days})])


def sent_signatures(upstream, index: int) -> list:
    """The signature on each model-turn functionCall of the index-th generation call the fake received."""
    contents = upstream.calls_to("streamGenerateContent")[index].body["request"]["contents"]
    return [
        part.get("thoughtSignature")
        for content in contents
        if content["role"] == "model"
        for part in content["parts"]
        if "functionCall" in part
    ]


def issued(upstream, signature: str) -> bool:
    """Whether the fake issued this signature itself (in either base64 alphabet)."""
    return normalised_signature(signature) in upstream.signatures


def counted(gateway, outcome: str) -> float:
    exposition = gateway.get("/metrics").text
    found = re.search(rf'^gateway_thought_signatures_total{{outcome="{outcome}"}} (\S+)$', exposition, re.M)
    return float(found.group(1)) if found else 0.0


def second_turn(question: str, called: dict) -> dict:
    """A client's replay of a first turn that called a function (its signature dropped), with its result."""
    return {
        "contents": [
            {"role": "user", "parts": [{"text": question}]},
            {"role": "model", "parts": [{"functionCall": called}]},
            {"role": "user", "parts": [{"functionResponse": {"name": called["name"], "response": {"ok": True}}}]},
        ]
    }


def test_generativeai_automatic_function_calling_on_gemini3(gateway, upstream, account):
    # google-generativeai drops the signature (its proto Part has no such field) and replays 3 as 3.0.
    upstream.script(
        "streamGenerateContent", tool_call("Paris", 3), text("Sunny in Paris"), tool_call("Rome", 2), text("Rome too")
    )
    restored = counted(gateway, "restored")
    point_legacy_at(gateway.url)
    chat = legacy.GenerativeModel("gemini-3-flash", tools=[get_weather]).start_chat(
        enable_automatic_function_calling=True
    )
    assert chat.send_message("What is the weather in Paris for 3 days?").text == "Sunny in Paris"
    assert chat.send_message("And in Rome for 2 days?").text == "Rome too"
    assert len(upstream.calls_to("streamGenerateContent")) == 4
    [paris] = sent_signatures(upstream, 1)
    assert paris not in SIGNATURE_SENTINELS and issued(upstream, paris)
    assert sent_signatures(upstream, 3)[0] == paris
    rome = sent_signatures(upstream, 3)[1]
    assert rome not in (paris, *SIGNATURE_SENTINELS) and issued(upstream, rome)
    assert counted(gateway, "restored") == restored + 4  # Paris in the three requests after it, Rome in one


def test_genai_keeps_its_own_signature_untouched(gateway, upstream, account):
    upstream.script("streamGenerateContent", tool_call("Oslo", 1), text("Cold in Oslo"))
    before = counted(gateway, "restored"), counted(gateway, "sentinel")
    client = genai_client(gateway.url)
    chat = client.chats.create(model="gemini-3-flash", config=types.GenerateContentConfig(tools=[get_weather]))
    assert chat.send_message("What is the weather in Oslo tomorrow?").text == "Cold in Oslo"
    [kept] = sent_signatures(upstream, 1)
    assert issued(upstream, kept)  # in google-genai's own encoding (URL-safe base64)
    assert (counted(gateway, "restored"), counted(gateway, "sentinel")) == before  # the gateway added nothing


@pytest.mark.parametrize(
    "first_turn",
    [":generateContent", ":streamGenerateContent?alt=sse", ":streamGenerateContent?alt=json"],
    ids=["assembled", "sse", "json-array"],
)
def test_a_signature_relayed_by_any_answer_kind_is_restored(gateway, upstream, account, first_turn):
    question = f"Plan a trip, answered as {first_turn}"
    args = {"city": "Lima", "days": 4, "nested": {"n": [1, 2.5]}}
    upstream.script("streamGenerateContent", Reply(events=[function_call("get_weather", args)]), text("ok"))
    first = gateway.post(GEMINI3 + first_turn, {"contents": [{"role": "user", "parts": [{"text": question}]}]})
    assert first.status_code == 200
    relayed = re.search(r'"thoughtSignature":\s*"([^"]+)"', first.text).group(1)
    # Replayed without the signature, numbers as doubles and members in another order.
    replay = {"name": "get_weather", "args": {"nested": {"n": [1.0, 2.5]}, "days": 4.0, "city": "Lima"}}
    assert gateway.post(GEMINI3 + ":generateContent", second_turn(question, replay)).status_code == 200
    assert sent_signatures(upstream, 1) == [relayed]


def test_a_conversation_too_short_to_fingerprint_gets_its_signature_back(gateway, upstream, account):
    upstream.script("streamGenerateContent", tool_call("Rabat", 1), text("ok"))
    first = gateway.post(
        GEMINI3 + ":generateContent", {"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}]}
    )
    relayed = first.json()["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    replay = {"name": "get_weather", "args": {"city": "Rabat", "days": 1.0}}
    assert gateway.post(GEMINI3 + ":generateContent", second_turn("Weather?", replay)).status_code == 200
    assert sent_signatures(upstream, 1) == [relayed]


def test_an_unknown_call_gets_the_sentinel_on_gemini3_only(gateway, upstream, account):
    body = second_turn("A conversation this gateway never saw", {"name": "get_weather", "args": {"city": "Kyiv"}})
    body["contents"][1]["parts"].append({"functionCall": {"name": "get_weather", "args": {"city": "Lviv"}}})
    sentinels = counted(gateway, "sentinel")
    assert gateway.post(GEMINI3 + ":generateContent", body).status_code == 200
    assert sent_signatures(upstream, 0) == [SENTINEL, None]  # the first call of the turn only, as Google checks
    assert counted(gateway, "sentinel") == sentinels + 1
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", body).status_code == 200
    assert sent_signatures(upstream, 1) == [None, None]


def test_a_signature_the_client_kept_passes_untouched(gateway, upstream, account):
    body = second_turn("A conversation with a forged signature", {"name": "get_weather", "args": {"city": "Kyiv"}})
    body["contents"][1]["parts"][0]["thought_signature"] = "forged"
    answer = gateway.post(GEMINI3 + ":generateContent", body)
    assert answer.status_code == 400 and answer.json()["error"]["message"] == "Corrupted thought signature."
    [part] = upstream.calls_to("streamGenerateContent")[0].body["request"]["contents"][1]["parts"]
    assert part == body["contents"][1]["parts"][0]


@contextlib.contextmanager
def only_worker(gateway, index: int):
    """Every new connection lands on one worker: the others are frozen (SIGSTOP) meanwhile, so only it
    accepts on the shared listening socket. Far shorter than gunicorn's 30 s worker timeout."""
    master = gateway.process.pid
    workers = sorted(int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split())
    assert len(workers) == 2
    frozen = [pid for position, pid in enumerate(workers) if position != index]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield workers[index]
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)


def test_a_signature_learnt_by_one_worker_is_restored_by_the_other(gateway, upstream, account):
    question = "Which worker remembers this conversation?"
    upstream.script("streamGenerateContent", tool_call("Quito", 5), text("Mild in Quito"))
    body = {"contents": [{"role": "user", "parts": [{"text": question}]}]}
    with only_worker(gateway, 0):
        first = gateway.post(GEMINI3 + ":streamGenerateContent?alt=sse", body)
    relayed = re.search(r'"thoughtSignature":"([^"]+)"', first.text).group(1)
    key = call_key(fingerprint(body), {"name": "get_weather", "args": {"city": "Quito", "days": 5}})
    assert SqliteSignatures(gateway.store).recall([key]) == {key: relayed}  # written before the stream ended
    replay = {"name": "get_weather", "args": {"city": "Quito", "days": 5.0}}
    with only_worker(gateway, 1):
        assert gateway.post(GEMINI3 + ":generateContent", second_turn(question, replay)).status_code == 200
    assert sent_signatures(upstream, 1) == [relayed]


# ---- several hosts, through Redis ----

shared = test_redis.shared  # Redis and two gateway hosts pointed at it (a fixture of test_redis.py)
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@needs_redis
def test_a_signature_learnt_on_one_host_is_restored_on_another(shared, upstream):
    _, (a, b) = shared
    test_redis.add_everywhere((a, b), upstream, "hosts@example.com")
    question = "Which host remembers this conversation?"
    upstream.script("streamGenerateContent", tool_call("Lagos", 2), text("Hot in Lagos"))
    first = a.post(GEMINI3 + ":generateContent", {"contents": [{"role": "user", "parts": [{"text": question}]}]})
    relayed = first.json()["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    replay = {"name": "get_weather", "args": {"city": "Lagos", "days": 2.0}}
    assert b.post(GEMINI3 + ":generateContent", second_turn(question, replay)).status_code == 200
    assert sent_signatures(upstream, 1) == [relayed]


@needs_redis
def test_losing_redis_degrades_to_the_sentinel_never_to_an_error(shared, upstream):
    server, (a, b) = shared
    test_redis.add_everywhere((a, b), upstream, "outage@example.com")
    question = "Does this conversation survive Redis?"
    upstream.script("streamGenerateContent", tool_call("Cairo", 1), text("Dry"), text("Dry"))
    assert a.post(GEMINI3 + ":generateContent", {"contents": [{"role": "user", "parts": [{"text": question}]}]}).ok
    server.stop()
    replay = second_turn(question, {"name": "get_weather", "args": {"city": "Cairo", "days": 1}})
    for host, kind in ((b, ":generateContent"), (a, ":streamGenerateContent?alt=sse")):
        answer = host.post(GEMINI3 + kind, replay)
        assert answer.status_code == 200 and "Dry" in answer.text
    assert sent_signatures(upstream, 1) == sent_signatures(upstream, 2) == [SENTINEL]
    assert b.get("/healthz", key=None).json()["shared_state"] == "degraded"


# ---- the strict fake itself ----


def fake_generate(upstream, model: str, contents: list) -> requests.Response:
    upstream.add_account("rt-fake", "fake@example.com")
    body = {"model": model, "project": "proj-1", "request": {"contents": contents}}
    return call(upstream, "streamGenerateContent", token(upstream, "rt-fake"), body)


def test_the_fake_signs_function_calls_on_gemini3_only(upstream):
    question = [{"role": "user", "parts": [{"text": "weather?"}]}]
    for model, signs in (("gemini-3-flash", True), ("gemini-2.5-flash", False)):
        upstream.script("streamGenerateContent", tool_call("Oslo", 1))
        [answer] = sse(fake_generate(upstream, model, question))
        [part] = answer["response"]["candidates"][0]["content"]["parts"]
        assert ("thoughtSignature" in part) is signs
    assert len(upstream.signatures) == 1


def test_the_fake_refuses_a_lost_or_forged_signature_as_google_does(upstream):
    question = [{"role": "user", "parts": [{"text": "weather?"}]}]
    upstream.script("streamGenerateContent", tool_call("Oslo", 1))
    [answer] = sse(fake_generate(upstream, "gemini-3-flash", question))
    signed_part = answer["response"]["candidates"][0]["content"]["parts"][0]
    url_safe = signed_part["thoughtSignature"].replace("+", "-").replace("/", "_").rstrip("=")
    lost = {"functionCall": signed_part["functionCall"]}

    def replay(*parts: dict) -> requests.Response:
        model_turn = {"role": "model", "parts": list(parts)}
        return fake_generate(
            upstream, "gemini-3-flash", [*question, model_turn, {"role": "user", "parts": [{"text": "and?"}]}]
        )

    refused = replay({"text": "Checking."}, lost).json()["error"]
    assert refused["code"] == 400 and refused["status"] == "INVALID_ARGUMENT"
    assert refused["message"].startswith("Function call is missing a thought_signature in functionCall parts.")
    assert "function call `default_api:get_weather` , position 2." in refused["message"]
    assert replay({**lost, "thoughtSignature": "Zm9yZ2Vk"}).json()["error"]["message"] == "Corrupted thought signature."
    assert replay(signed_part, {**lost, "thoughtSignature": "Zm9yZ2Vk"}).status_code == 400  # any call is checked
    for accepted in (
        [signed_part, lost],  # a parallel call after the first carries none, as Google sends them
        [{**lost, "thought_signature": url_safe}],
        *([{**lost, "thoughtSignature": sentinel}] for sentinel in SIGNATURE_SENTINELS),
    ):
        assert replay(*accepted).status_code == 200
    assert (
        fake_generate(upstream, "gemini-2.5-flash", [*question, {"role": "model", "parts": [lost]}]).status_code == 200
    )
