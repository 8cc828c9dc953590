"""Routes: Gemini features Cloud Code cannot serve (501 naming them), unversioned paths, odd bodies."""

import pytest
import requests
from google.genai import errors as genai_errors
from google.genai import types

from tests.conftest import API_KEY, HELLO
from tests.sdk_helper import genai_client

PREFIXES = ["/v1beta", "/v1", "/v1alpha", ""]
FEATURES = [
    ("cachedContents", "/cachedContents"),
    ("cachedContents", "/cachedContents/cache-1"),
    ("cachedContents", "/cachedContents:list"),
    ("batches", "/batches"),
    ("batches", "/batches/batch-1:cancel"),
    ("tunedModels", "/tunedModels"),
    ("tunedModels", "/tunedModels/mine:generateContent"),
    ("embedContent", "/models/gemini-2.5-flash:embedContent"),
    ("batchEmbedContents", "/models/gemini-2.5-flash:batchEmbedContents"),
    ("predict", "/models/imagen-4.0-generate-001:predict"),
    ("batchGenerateContent", "/models/gemini-2.5-flash:batchGenerateContent"),
]


def assert_unimplemented(response: requests.Response, feature: str) -> None:
    assert response.status_code == 501, response.text
    error = response.json()["error"]
    assert error["code"] == 501 and error["status"] == "UNIMPLEMENTED" and feature in error["message"]


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda p: p or "bare")
@pytest.mark.parametrize(("feature", "path"), FEATURES, ids=[path for _, path in FEATURES])
def test_features_cloud_code_lacks_are_501_naming_them(gateway, upstream, prefix, feature, path):
    for method in ("GET", "POST", "DELETE"):
        response = requests.request(
            method, gateway.url + prefix + path, json={}, headers={"x-goog-api-key": API_KEY}, timeout=10
        )
        assert_unimplemented(response, feature)
    # v1internal only: a worker that booted late reads the client manifest (GATEWAY_USER_AGENT=auto) meanwhile
    assert [call for call in upstream.calls if call.path.startswith("/v1internal")] == []


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda p: p or "bare")
def test_the_files_api_is_served_under_every_prefix_and_no_longer_501(gateway, prefix):
    """The Files API left the 501 table (issue 30; tests/test_files.py covers it): listing answers Google's empty
    list, an upload starts, and a collection beside it under /upload still answers 501."""
    assert gateway.get(f"{prefix}/files").json() == {}
    headers = {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"}
    headers["X-Goog-Upload-Header-Content-Type"] = "text/plain"
    started = gateway.post(f"/upload{prefix}/files", {"file": {"displayName": "notes.txt"}}, headers=headers)
    assert started.status_code == 200 and started.headers["X-Goog-Upload-URL"].startswith(
        f"{gateway.url}/upload{prefix}/files?"
    )
    assert_unimplemented(gateway.post(f"/upload{prefix}/cachedContents", {}), "cachedContents")


@pytest.mark.parametrize("path", ["/v1beta/files", "/upload/v1beta/files", "/models/x:embedContent", "/cachedContents"])
def test_the_key_is_checked_before_the_feature(gateway, path):
    response = gateway.post(path, {}, key=None)
    assert response.status_code == 401 and response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_sdk_gets_a_clear_error_for_caches(gateway):
    client = genai_client(gateway.url)
    with pytest.raises(genai_errors.APIError) as caught:
        client.caches.create(model="gemini-2.5-flash", config=types.CreateCachedContentConfig(contents=["x"]))
    assert caught.value.code == 501 and "cachedContents" in caught.value.message


def test_unversioned_paths_answer_as_v1beta_does(gateway, account):
    assert gateway.get("/models").json() == gateway.get("/v1beta/models").json()
    assert gateway.get("/models/gemini-2.5-flash").json()["name"] == "models/gemini-2.5-flash"
    assert gateway.get("/models/gemini-9-nonexistent").status_code == 404
    answer = gateway.post("/models/gemini-2.5-flash:generateContent", HELLO)
    assert answer.status_code == 200 and answer.json()["candidates"][0]["content"]["parts"][0]["text"] == "Hello"
    assert gateway.post("/models/gemini-2.5-flash:countTokens", HELLO).json() == {"totalTokens": 3}
    stream = gateway.post("/models/gemini-2.5-flash:streamGenerateContent", HELLO)
    assert stream.headers["Content-Type"].startswith("text/event-stream")


def post_raw(gateway, method: str, body: bytes) -> requests.Response:
    """A JSON body sent as these bytes (requests' json= would re-encode the escapes under test)."""
    path = f"/v1beta/models/gemini-2.5-flash:{method}"
    return gateway.post(path, data=body, headers={"Content-Type": "application/json"}, timeout=10)


@pytest.mark.parametrize("method", ["generateContent", "countTokens", "streamGenerateContent"])
@pytest.mark.parametrize("text", [rb"\ud800", rb"tail \udfff", rb"\ud83d alone"])
def test_a_lone_surrogate_is_a_400(gateway, upstream, account, method, text):
    body = b'{"contents":[{"role":"user","parts":[{"text":"' + text + b'"}]}]}'
    response = post_raw(gateway, method, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "surrogate" in error["message"]
    assert upstream.calls_to(method) == [] and upstream.calls_to("streamGenerateContent") == []


def test_paired_surrogates_and_escaped_backslashes_pass(gateway, upstream, account):
    body = b'{"contents":[{"role":"user","parts":[{"text":"\\ud83d\\ude00 and \\\\ud800 as text"}]}]}'
    response = post_raw(gateway, "generateContent", body)
    assert response.status_code == 200, response.text
    sent = upstream.calls_to("streamGenerateContent")[0].body["request"]["contents"][0]["parts"][0]["text"]
    assert sent == "\U0001f600 and \\ud800 as text"
