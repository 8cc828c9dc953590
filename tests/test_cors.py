"""Calls from web pages: any origin when a key is required (as Google allows), listed origins when auth is off."""

from gateway import create_app

KEY = "s3cret-key"
MODELS = "/v1beta/models"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
PAGE = "https://app.example"


def client(tmp_path, **env: str):
    settings = {"DATA_DIR": str(tmp_path), "API_KEY": KEY, "AUTH_MODE": "strict", **env}
    return create_app({f"GATEWAY_{name}": value for name, value in settings.items()})


def preflight(app, origin: str = PAGE):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-goog-api-key",
    }
    return app.test_client().options(GENERATE, headers=headers)


def test_with_a_key_any_page_may_call_it_and_still_needs_the_key(tmp_path):
    app = client(tmp_path)
    answer = preflight(app)
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type,x-goog-api-key"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    refused = app.test_client().get(MODELS, headers={"Origin": PAGE})
    assert refused.status_code == 401  # readable by the page: it says why
    assert refused.headers["Access-Control-Allow-Origin"] == PAGE
    served = app.test_client().get(MODELS, headers={"Origin": PAGE, "x-goog-api-key": KEY})
    assert served.status_code == 200 and served.headers["Access-Control-Allow-Origin"] == PAGE
    assert "X-Request-Id" in served.headers["Access-Control-Expose-Headers"]
    assert "Origin" in served.headers["Vary"]


def test_without_a_key_no_page_may_call_it_by_default(tmp_path):
    app = client(tmp_path, AUTH_MODE="off")
    assert "Access-Control-Allow-Origin" not in preflight(app).headers
    assert "Access-Control-Allow-Methods" not in preflight(app).headers
    refused = app.test_client().get(MODELS, headers={"Origin": PAGE})
    assert refused.status_code == 403 and "GATEWAY_CORS_ORIGINS" in refused.json["error"]["message"]


def test_without_a_key_listed_pages_may_call_it(tmp_path):
    app = client(tmp_path, AUTH_MODE="off", CORS_ORIGINS=f"{PAGE}, http://localhost:3000")
    assert preflight(app).headers["Access-Control-Allow-Methods"]
    served = app.test_client().get(MODELS, headers={"Origin": "http://localhost:3000"})
    assert served.status_code == 200 and served.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert app.test_client().get(MODELS, headers={"Origin": "https://evil.example"}).status_code == 403


def test_clients_without_an_origin_see_no_cors_headers(tmp_path):
    answer = client(tmp_path).test_client().get(MODELS, headers={"x-goog-api-key": KEY})
    assert not any(name.startswith("Access-Control") for name, _ in answer.headers)
