"""The auth matrix: modes x where the key travels x right/wrong/missing key."""

import pytest

from gateway import create_app

KEY = "s3cret-key"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
MODELS = "/v1beta/models"


def client(tmp_path, mode: str, key: str = KEY, bind: str = "127.0.0.1:8045"):
    app = create_app(
        {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_AUTH_MODE": mode, "GATEWAY_API_KEY": key, "GATEWAY_BIND": bind}
    )
    return app.test_client()


def with_key(key: str, where: str) -> dict:
    if where == "query":
        return {"query_string": {"key": key}}
    header = {
        "bearer": ("Authorization", f"Bearer {key}"),
        "bare": ("Authorization", key),
        "x-api-key": ("x-api-key", key),
        "x-goog-api-key": ("x-goog-api-key", key),
    }[where]
    return {"headers": [header]}


@pytest.mark.parametrize("where", ["bearer", "bare", "x-api-key", "x-goog-api-key", "query"])
@pytest.mark.parametrize("mode", ["strict", "all_except_health"])
def test_the_right_key_passes_from_every_place(tmp_path, mode, where):
    assert client(tmp_path, mode).get(MODELS, **with_key(KEY, where)).status_code == 200


@pytest.mark.parametrize("where", ["bearer", "x-api-key", "x-goog-api-key", "query"])
def test_a_wrong_key_is_refused_in_googles_shape(tmp_path, where):
    response = client(tmp_path, "strict").get(MODELS, **with_key("s3cret-kez", where))
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
    assert "s3cret" not in response.get_data(as_text=True)


def test_any_presented_key_may_match(tmp_path):
    headers = {"Authorization": "Bearer something-for-another-proxy", "x-goog-api-key": KEY}
    assert client(tmp_path, "strict").get(MODELS, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("mode", "path", "status"),
    [
        ("strict", "/healthz", 401),
        ("strict", MODELS, 401),
        ("all_except_health", "/healthz", 200),
        ("all_except_health", MODELS, 401),
        ("off", MODELS, 200),
        ("off", "/healthz", 200),
    ],
)
def test_modes_without_a_key(tmp_path, mode, path, status):
    assert client(tmp_path, mode).get(path).status_code == status


@pytest.mark.parametrize(
    ("bind", "key", "path", "status"),
    [
        ("127.0.0.1:8045", "", MODELS, 200),  # a loopback bind and no key at all: off
        ("127.0.0.1:8045", KEY, MODELS, 401),  # behind nginx the bind is loopback: a configured key is enforced
        ("127.0.0.1:8045", KEY, "/healthz", 200),
        ("0.0.0.0:8045", KEY, MODELS, 401),
        ("0.0.0.0:8045", KEY, "/healthz", 200),
    ],
)
def test_auto_is_off_only_on_loopback_without_a_key(tmp_path, bind, key, path, status):
    assert client(tmp_path, "auto", key=key, bind=bind).get(path).status_code == status


@pytest.mark.parametrize("presented", ["", "anything"])
def test_auth_on_with_an_empty_configured_key_refuses_everything(tmp_path, presented):
    app_client = client(tmp_path, "strict", key="")
    response = app_client.post(GENERATE, json={}, headers={"x-goog-api-key": presented} if presented else {})
    assert response.status_code == 401


def test_the_key_is_checked_before_the_body_is_read(tmp_path):
    response = client(tmp_path, "strict").post(GENERATE, data=b"not json")
    assert response.status_code == 401


def test_real_gateway_refuses_a_missing_key(served):
    response = served.post(GENERATE, json={}, key=None)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert served.get("/healthz", key=None).status_code == 200


def test_without_a_key_web_pages_are_refused(tmp_path):
    # A page on any site could otherwise make the visitor's browser spend the pool's quota.
    gateway = client(tmp_path, "off")
    page = {"Origin": "https://evil.example", "Content-Type": "text/plain"}  # a form-like POST: no preflight
    refused = gateway.post(GENERATE, data="{}", headers=page)
    assert refused.status_code == 403 and refused.json["error"]["status"] == "PERMISSION_DENIED"
    assert gateway.get(MODELS).status_code == 200  # SDKs and curl send no Origin


def test_with_a_key_web_pages_are_judged_by_the_key(tmp_path):
    gateway = client(tmp_path, "strict")
    assert gateway.get(MODELS, headers={"Origin": "https://app.example", "x-goog-api-key": KEY}).status_code == 200
