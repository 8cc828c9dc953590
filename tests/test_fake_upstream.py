"""The fake Google itself: tokens, auth, default answers, scripts, delays, recording, failing origins."""

import json
import time

import pytest
import requests

from tests.fake_upstream import CLIENT_FORM, GEMINI_CLI_CLIENT, FakeGoogle, Reply

HELLO = {"model": "gemini-2.5-flash", "project": "proj-1", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}


@pytest.fixture
def fake():
    google = FakeGoogle().start()
    google.add_account("rt-a", "a@example.com")
    google.add_account("rt-b", "b@example.com")
    yield google
    google.stop()


def token(fake: FakeGoogle, refresh_token: str = "rt-a") -> str:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **CLIENT_FORM}
    response = requests.post(fake.token_url, data=form, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def call(fake: FakeGoogle, method: str, bearer: str, body: object = HELLO, base: str = "", **kwargs):
    headers = {"Authorization": f"Bearer {bearer}"}
    return requests.post(f"{base or fake.url}/v1internal:{method}", json=body, headers=headers, timeout=5, **kwargs)


def sse(response: requests.Response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith(b"data: ")]


def test_refresh_issues_new_tokens_that_all_work_and_refuses_revoked_or_unknown(fake):
    first, second = token(fake), token(fake)
    assert first != second and first.startswith("ya29.fake-a@example.com-")
    for bearer in (first, second):
        info = requests.get(fake.userinfo_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=5)
        assert info.json()["email"] == "a@example.com" and info.json()["verified_email"] is True
    fake.accounts["rt-b"].revoked = True
    for refresh_token in ("rt-b", "rt-unknown"):
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **CLIENT_FORM}
        response = requests.post(fake.token_url, data=form, timeout=5)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert [c.account for c in fake.calls_to("token")] == ["a@example.com", "a@example.com", "b@example.com", None]


def test_the_token_endpoint_checks_the_oauth_client_as_google_does(fake):
    fake.add_account("rt-cli", "cli@example.com", client=GEMINI_CLI_CLIENT)
    refresh = {"grant_type": "refresh_token", "refresh_token": "rt-a"}
    for client in ({}, {**CLIENT_FORM, "client_secret": "wrong"}, {**CLIENT_FORM, "client_id": "nobody"}):
        response = requests.post(fake.token_url, data={**refresh, **client}, timeout=5)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    other = requests.post(fake.token_url, data={**refresh, "refresh_token": "rt-cli", **CLIENT_FORM}, timeout=5)
    assert other.status_code == 401 and other.json()["error"] == "unauthorized_client"


def test_bad_or_expired_bearer_is_401_unauthenticated(fake):
    fake.add_account("rt-short", "short@example.com", expires_in=0)
    for bearer in ("nonsense", token(fake, "rt-short")):
        response = call(fake, "loadCodeAssist", bearer, {})
        assert response.status_code == 401 and response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert requests.get(fake.userinfo_url, headers={"Authorization": "Bearer x"}, timeout=5).status_code == 401
    assert requests.get(fake.url + "/nowhere", timeout=5).status_code == 404


def test_default_stream_is_two_wrapped_sse_events(fake):
    response = call(fake, "streamGenerateContent", token(fake), params={"alt": "sse"}, stream=True)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/event-stream"
    first, last = sse(response)
    assert first["response"]["candidates"][0]["content"]["parts"] == [{"text": "Hel"}]
    assert first["response"]["modelVersion"] == "gemini-2.5-flash" and first["traceId"].startswith("t")
    assert last["response"]["candidates"][0]["finishReason"] == "STOP"
    assert last["response"]["usageMetadata"]["totalTokenCount"] == 5


def test_default_non_stream_answers(fake):
    bearer = token(fake)
    generated = call(fake, "generateContent", bearer).json()
    assert generated["response"]["candidates"][0]["content"]["parts"] == [{"text": "Hello"}]
    counted = {"request": {"model": "models/x", "contents": [{"parts": [{"text": "one two"}, {"text": " three "}]}]}}
    assert call(fake, "countTokens", bearer, counted).json() == {"totalTokens": 3}
    assert set(call(fake, "fetchAvailableModels", bearer, {}).json()["models"]) >= {"gemini-2.5-pro"}


def test_onboarding_takes_one_pending_poll(fake):
    fake.add_account("rt-new", "new@example.com", project="proj-new", onboarded=False)
    bearer = token(fake, "rt-new")
    assert "currentTier" not in call(fake, "loadCodeAssist", bearer, {}).json()
    operation = call(fake, "onboardUser", bearer, {"tierId": "free-tier"}).json()
    assert operation["done"] is False
    poll = f"{fake.url}/v1internal/{operation['name']}"
    polls = [requests.get(poll, headers={"Authorization": f"Bearer {bearer}"}, timeout=5).json() for _ in range(2)]
    assert [p["done"] for p in polls] == [False, True]
    assert polls[1]["response"]["cloudaicompanionProject"]["id"] == "proj-new"
    assert call(fake, "loadCodeAssist", bearer, {}).json()["cloudaicompanionProject"] == "proj-new"


def test_scripts_are_fifo_and_account_specific_first(fake):
    quota = {"error": {"code": 429, "message": "exhausted", "status": "RESOURCE_EXHAUSTED"}}
    fake.script("streamGenerateContent", Reply(status=429, json=quota), Reply(status=503, json={}))
    fake.script("streamGenerateContent", Reply(events=[{"candidates": []}]), account="b@example.com")
    a, b = token(fake), token(fake, "rt-b")
    assert call(fake, "streamGenerateContent", b).status_code == 200  # b's own script, not the global 429
    assert call(fake, "streamGenerateContent", b).json() == quota
    assert call(fake, "streamGenerateContent", a).status_code == 503
    assert len(sse(call(fake, "streamGenerateContent", a))) == 2  # queues empty: the default again


def test_scripted_delays_are_real_and_events_arrive_one_by_one(fake):
    bearer = token(fake)
    fake.script("generateContent", Reply(json={"ok": 1}, delay=0.3))
    started = time.monotonic()
    assert call(fake, "generateContent", bearer).json() == {"ok": 1}
    assert time.monotonic() - started >= 0.3
    fake.script("streamGenerateContent", Reply(events=[{"n": 0}, {"n": 1}, {"error": {"code": 500}}], delays=[0, 0.4]))
    started = time.monotonic()
    arrivals = []
    for line in call(fake, "streamGenerateContent", bearer, stream=True).iter_lines():
        if line:
            arrivals.append((time.monotonic() - started, json.loads(line[6:])))
    assert arrivals[0][0] < 0.3 <= arrivals[1][0]
    assert arrivals[1][1]["response"]["n"] == 1 and arrivals[2][1] == {"error": {"code": 500}}


def test_cut_after_drops_the_stream_without_its_end(fake):
    fake.script("streamGenerateContent", Reply(events=[{"n": 0}, {"n": 1}], cut_after=1))
    response = call(fake, "streamGenerateContent", token(fake), stream=True)
    lines = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        lines.extend(response.iter_lines())
    assert lines[0].startswith(b"data: ")


def test_calls_are_recorded_with_account_query_body_and_origin(fake):
    call(fake, "countTokens", token(fake, "rt-b"), {"request": {}}, params={"alt": "sse"})
    recorded = fake.calls_to("countTokens", account="b@example.com")
    assert len(recorded) == 1 and fake.calls_to("countTokens", account="a@example.com") == []
    assert recorded[0].query == {"alt": ["sse"]} and recorded[0].body == {"request": {}}
    assert recorded[0].base == fake.url and recorded[0].http_method == "POST"
    fake.reset()
    assert fake.calls == [] and fake.accounts == {}


def test_failing_origins(fake):
    other = fake.add_origin()
    bearer = token(fake)
    assert call(fake, "generateContent", bearer, base=other).status_code == 200
    fake.fail_origin(other, 503)
    assert call(fake, "generateContent", bearer, base=other).status_code == 503
    fake.fail_origin(other, None)
    with pytest.raises(requests.ConnectionError):
        call(fake, "generateContent", bearer, base=other)
    fake.fail_origin(other, "refuse")
    with pytest.raises(requests.ConnectionError):
        call(fake, "generateContent", bearer, base=other)
    assert [c.base for c in fake.calls_to("generateContent")] == [other] * 3
    fake.reset()  # the origin listens again, answering normally
    fake.add_account("rt-a", "a@example.com")
    assert call(fake, "generateContent", token(fake), base=other).status_code == 200


def test_stop_is_quick_with_a_client_mid_stream(fake):
    fake.script("streamGenerateContent", Reply(events=[{"n": n} for n in range(100)], event_delay=0.1))
    response = call(fake, "streamGenerateContent", token(fake), stream=True)
    next(response.iter_lines())
    response.close()  # the client leaves: the fake notices on its next write
    deadline = time.monotonic() + 3
    while not fake.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.disconnects == ["streamGenerateContent"]
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1


def generate_with(request: dict, model: str = "gemini-2.5-flash") -> dict:
    return {"model": model, "project": "proj-1", "request": {"contents": [{"parts": [{"text": "hi"}]}], **request}}


def declared(*declarations: dict) -> dict:
    return {"tools": [{"codeExecution": {}}, {"functionDeclarations": list(declarations)}]}


OK_SCHEMA = {"type": "object", "properties": {"a": {"type": "STRING", "enum": ["x"]}, "b": {"type": 3}}}
SCHEMA_REFUSALS = [
    (
        generate_with(
            declared(
                {"name": "f", "parameters": OK_SCHEMA},
                {
                    "name": "g",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {}, "b": {"type": "string", "propertyNames": {}}},
                    },
                },
            )
        ),
        'Invalid JSON payload received. Unknown name "propertyNames" at '
        "'request.tools[1].function_declarations[1].parameters.properties[1].value': Cannot find field.",
    ),
    (
        generate_with(declared({"name": "f", "parameters": {"type": "array", "items": {"anyOf": [{}, {"const": 1}]}}})),
        'Invalid JSON payload received. Unknown name "const" at '
        "'request.tools[1].function_declarations[0].parameters.items.any_of[1]': Cannot find field.",
    ),
    (
        generate_with(declared({"name": "f", "parametersJsonSchema": {"$schema": "x", "type": "object"}})),
        'Invalid JSON payload received. Unknown name "$schema" at '
        "'request.tools[1].function_declarations[0].parameters_json_schema': Cannot find field.",
    ),
    (
        generate_with(declared({"name": "f", "parameters": {"type": "object", "properties": {"a": True}}})),
        "Invalid value at 'request.tools[1].function_declarations[0].parameters.properties[0].value' "
        "(type.googleapis.com/google.ai.generativelanguage.v1beta.Schema), true",
    ),
    (
        generate_with(declared({"name": "f", "parameters": {"type": "integer", "enum": ["1", 2]}})),
        "Invalid value at 'request.tools[1].function_declarations[0].parameters.enum[1]' (TYPE_STRING), 2",
    ),
    (
        generate_with(declared({"name": "f", "parameters": {"type": ["string", "null"]}})),
        "Invalid value at 'request.tools[1].function_declarations[0].parameters.type' "
        '(type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ["string", "null"]',
    ),
    (
        generate_with(declared({"name": "f", "parameters": OK_SCHEMA, "parameters_json_schema": OK_SCHEMA})),
        "parameters_json_schema must not be set when parameters is set",
    ),
    (
        generate_with(
            declared({"name": "f", "parameters": OK_SCHEMA}, {"name": "g", "parametersJsonSchema": OK_SCHEMA}),
            "claude-sonnet-4-5",
        ),
        "tools.1.custom.input_schema: Field required",
    ),
    (
        generate_with(
            {
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "object", "additionalProperties": False},
                }
            }
        ),
        'Invalid JSON payload received. Unknown name "additionalProperties" at '
        "'request.generation_config.response_schema': Cannot find field.",
    ),
    (
        generate_with({"generation_config": {"response_json_schema": {"$defs": {}}}}),
        'Invalid JSON payload received. Unknown name "$defs" at '
        "'request.generation_config.response_json_schema': Cannot find field.",
    ),
]


@pytest.mark.parametrize(("body", "message"), SCHEMA_REFUSALS)
def test_schemas_are_parsed_as_strictly_as_google_does(fake, body, message):
    fake.script("streamGenerateContent", Reply(events=[{"n": 0}]))
    response = call(fake, "streamGenerateContent", token(fake), body)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    assert len(fake.calls_to("streamGenerateContent")) == 1 and len(fake.scripts[("streamGenerateContent", None)]) == 1


def test_schemas_the_proto_accepts_pass(fake):
    schema = {
        "type": "OBJECT",
        "properties": {"default": {"type": "string", "format": "date-time"}},
        "required": ["default"],
    }
    schema["properties"]["list"] = {
        "type": "array",
        "items": {"anyOf": [{"type": "integer", "minimum": 0}]},
        "minItems": "1",
    }
    body = generate_with(
        {**declared({"name": "f", "parameters": schema}), "generationConfig": {"responseSchema": schema}}
    )
    assert call(fake, "generateContent", token(fake), body).status_code == 200
    claude = generate_with(declared({"name": "f", "parameters": schema}), "claude-sonnet-4-5")
    assert call(fake, "streamGenerateContent", token(fake), claude).status_code == 200
