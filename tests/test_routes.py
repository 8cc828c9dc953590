"""Paths as Google parses them, the model catalog, and hostile input refused at the door."""

import json
import socket

import pytest
import requests

from tests.conftest import API_KEY, HELLO

FLASH = "/v1beta/models/gemini-2.5-flash"


def assert_google_error(response: requests.Response, code: int, status: str) -> dict:
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    return error


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/models/gemini-2.5-flash:generateContent",  # a `name` copied from the list
        "/v1beta/models/gemini-2.5-flash%3AgenerateContent",
    ],
)
def test_path_forms(gateway, account, path):
    assert gateway.post(path, HELLO).status_code == 200


def test_model_list_pages_and_entries(gateway):
    first = gateway.get("/v1beta/models", params={"pageSize": 3}).json()
    assert len(first["models"]) == 3 and first["nextPageToken"]
    seen = [m["name"] for m in first["models"]]
    token = first["nextPageToken"]
    while token:
        page = gateway.get("/v1beta/models", params={"pageSize": 3, "pageToken": token}).json()
        seen += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
    assert seen == [m["name"] for m in gateway.get("/v1/models").json()["models"]]
    model = gateway.get("/v1beta/models/gemini-2.5-flash").json()
    assert model["name"] == "models/gemini-2.5-flash" and model["displayName"]
    assert {"generateContent", "streamGenerateContent", "countTokens"} <= set(model["supportedGenerationMethods"])
    assert model["inputTokenLimit"] > 0 and model["outputTokenLimit"] > 0


def test_models_reported_by_accounts_join_the_catalog(gateway, upstream):
    gateway.store.upsert(
        "a@example.com",
        "rt",
        project="p",
        models={
            "gemini-9-ultra": {"displayName": "Gemini 9 Ultra", "inputTokenLimit": 2000000, "outputTokenLimit": 99}
        },
    )
    model = gateway.get("/v1beta/models/gemini-9-ultra").json()
    assert model["displayName"] == "Gemini 9 Ultra" and model["inputTokenLimit"] == 2000000


@pytest.mark.parametrize(
    ("method", "path", "code", "status"),
    [
        ("GET", "/v1beta/models/gemini-9-nonexistent", 404, "NOT_FOUND"),
        ("POST", "/v1beta/models/gemini-9-nonexistent:generateContent", 404, "NOT_FOUND"),
        ("POST", f"{FLASH}:fooBar", 404, "NOT_FOUND"),
        ("POST", FLASH, 404, "NOT_FOUND"),
        ("POST", f"{FLASH}:embedContent", 501, "UNIMPLEMENTED"),
        ("GET", "/v2/whatever", 404, "NOT_FOUND"),
        ("GET", "/", 404, "NOT_FOUND"),
        ("DELETE", "/v1beta/models", 405, "METHOD_NOT_ALLOWED"),
        ("GET", f"{FLASH}:generateContent", 405, "METHOD_NOT_ALLOWED"),  # the model exists: not a 404
        ("GET", f"{FLASH}:fooBar", 404, "NOT_FOUND"),
        ("GET", "/v1beta/models?pageToken=garbage", 400, "INVALID_ARGUMENT"),
        ("GET", "/v1beta/models?pageSize=-1", 400, "INVALID_ARGUMENT"),
        ("POST", "/v1beta/models/..%2F..%2Fetc:generateContent", 400, "INVALID_ARGUMENT"),
        ("POST", "/v1beta/models/gem%00ini:generateContent", 400, "INVALID_ARGUMENT"),
        ("POST", "/v1beta/models/" + "x" * 300 + ":generateContent", 400, "INVALID_ARGUMENT"),
    ],
)
def test_unknown_and_malformed_paths(gateway, method, path, code, status):
    response = requests.request(method, gateway.url + path, json=HELLO, headers={"x-goog-api-key": API_KEY}, timeout=10)
    assert_google_error(response, code, status)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "empty"),
        (b"{not json", "Invalid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"text"', "JSON object"),
        (b'{"contents": "hi"}', "contents"),
        (b'{"contents": []}', "contents"),
        (b'{"contents": [{"role": "user", "parts": "hi"}]}', "contents[0].parts"),
        (b'{"contents": [{"role": "user", "parts": [{"text": 42}]}]}', "contents[0].parts[0].text"),
        (b'{"contents": [{"role": "system", "parts": [{"text": "x"}]}]}', "contents[0].role"),
        (
            b'{"contents": [{"role": "user", "parts": [{"text": "x"}]}],'
            b' "generationConfig": {"maxOutputTokens": "lots"}}',
            "generationConfig.maxOutputTokens",
        ),
        (
            b'{"contents": [{"role": "user", "parts": [{"text": "x"}]}], "safetySettings": [{"category": true,'
            b' "threshold": 1}]}',
            "safetySettings[0].category",
        ),
        (b'{"contents": [{"role": "user", "parts": [{"text": "\xff\xfe"}]}]}', "UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "deeper"),
        (b'{"a":' * 150 + b"1" + b"}" * 150, "deeper"),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(gateway, upstream, account, body, field):
    response = requests.post(
        gateway.url + f"{FLASH}:generateContent",
        data=body,
        headers={"x-goog-api-key": API_KEY, "Content-Type": "application/json"},
        timeout=10,
    )
    assert field in assert_google_error(response, 400, "INVALID_ARGUMENT")["message"]
    assert upstream.calls_to("streamGenerateContent") == []


def test_count_tokens_needs_contents_in_one_form_or_the_other(gateway, account):
    response = gateway.post(f"{FLASH}:countTokens", {"foo": 1})
    assert "contents" in assert_google_error(response, 400, "INVALID_ARGUMENT")["message"]


def test_snake_case_and_integer_enums_are_accepted(gateway, account):
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [{"inline_data": {"mime_type": "image/png", "data": "AA=="}}, {"text": "what is this"}],
            }
        ],
        "generation_config": {"max_output_tokens": 10, "response_modalities": [1]},
        "safety_settings": [{"category": 7, "threshold": "BLOCK_NONE"}],
    }
    assert gateway.post(f"{FLASH}:generateContent", body).status_code == 200


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("size", [(1 << 20) - 300, 3 << 20, (5 << 20) + 12345])
def test_a_big_body_read_in_pieces_arrives_whole(gateway, upstream, account, size, chunked):
    text = "".join(chr(0x61 + n % 26) for n in range(26)) * (size // 26)
    raw = json.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]}).encode()
    data = (raw[n : n + 70000] for n in range(0, len(raw), 70000)) if chunked else raw
    answer = gateway.post(f"{FLASH}:generateContent", data=data, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    [call] = upstream.calls_to("streamGenerateContent")
    assert call.body["request"]["contents"][0]["parts"][0]["text"] == text


def test_an_oversized_chunked_body_is_refused_not_truncated(gateway, upstream):
    chunks = (b" " * (1 << 20) for _ in range(21))  # no Content-Length: werkzeug stops at the limit silently
    answer = gateway.post(f"{FLASH}:generateContent", data=chunks, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == 413
    assert upstream.calls_to("streamGenerateContent") == []


def test_oversized_body_is_refused_before_it_is_read(gateway, upstream):
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # Announce 25 MB, send a few bytes: the answer must come without the rest being read.
        sock.sendall(
            f"POST {FLASH}:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {25 * 1024 * 1024}\r\n\r\n{{".encode()
        )
        answer = b""
        while b'"status"' not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b'"code":413' in answer
