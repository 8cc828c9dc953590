"""Every failure leaves in Google's shape, with a request id and without internals."""

import logging

import pytest

from gateway import create_app


@pytest.fixture
def app(tmp_path):
    app = create_app({"GATEWAY_DATA_DIR": str(tmp_path)})

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret internals: refresh_token=rt-very-secret")

    return app


def test_unexpected_exception_is_a_logged_500_without_internals(app, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("gateway"), "propagate", True)  # let caplog see it
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/explode", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["status"] == "INTERNAL" and "req-123" in error["message"]
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)
    assert response.headers["X-Request-Id"] == "req-123"
    record = next(r for r in caplog.records if r.exc_info and r.name == "gateway.errors")
    assert record.fields["request_id"] == "req-123"
    assert {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "req-123"} in error["details"]


@pytest.mark.parametrize("offered", ["", "bad id with spaces", "x" * 200, "evil\u2028line"])
def test_unsafe_request_ids_are_replaced(app, offered):
    response = app.test_client().get("/healthz", headers={"X-Request-Id": offered} if offered else {})
    assert len(response.headers["X-Request-Id"]) == 32 and response.headers["X-Request-Id"] != offered


def test_json_is_ascii_only(app):
    response = app.test_client().get("/v1beta/models/gemini-\u00e9")
    assert response.status_code in (400, 404)
    assert response.get_data().isascii()
