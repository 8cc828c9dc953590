"""The upstream client against a strict `responses` mock: origins, classification, headers."""

import pytest
import requests
import responses

from gateway.config import DEFAULT_USER_AGENT, Settings
from gateway.upstream.client import UpstreamClient
from gateway.upstream.errors import BadRequest, RateLimited, ServerFailed, TransportFailed
from gateway.upstream.version_gate import ClientOutdated
from tests.fake_upstream import CLIENT_FORM

A, B = "https://a.example", "https://b.example"
GENERATE = "/v1internal:streamGenerateContent?alt=sse"


@pytest.fixture
def client():
    return UpstreamClient(Settings.from_env({"GATEWAY_UPSTREAM_URLS": f"{A},{B}"}))


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def test_first_origin_answers(client, mock):
    call = mock.post(A + GENERATE, body="data: {}\n\n")
    response = client.call("streamGenerateContent", "tok", {"request": {}}, stream=True)
    assert response.status_code == 200
    sent = call.calls[0].request
    assert sent.headers["Authorization"] == "Bearer tok"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert sent.headers["Accept-Encoding"] == "identity"  # a compressed stream could not be relayed as it comes
    assert "Cookie" not in sent.headers
    assert sent.body == b'{"request":{}}'


@pytest.mark.parametrize("status", [404, 408, 500, 503])
def test_outage_falls_back_to_the_next_origin(client, mock, status):
    mock.post(A + "/v1internal:countTokens", status=status, json={"error": {"code": status}})
    mock.post(B + "/v1internal:countTokens", json={"totalTokens": 3})
    assert client.call("countTokens", "tok", {}).json() == {"totalTokens": 3}


def test_connection_error_falls_back(client, mock):
    mock.post(A + "/v1internal:countTokens", body=requests.ConnectionError("refused"))
    mock.post(B + "/v1internal:countTokens", json={"totalTokens": 3})
    assert client.call("countTokens", "tok", {}).json() == {"totalTokens": 3}


@pytest.mark.parametrize(("status", "kind"), [(429, RateLimited), (400, BadRequest)])
def test_client_errors_do_not_try_other_origins(client, mock, status, kind):
    mock.post(A + "/v1internal:countTokens", status=status, json={"error": {"code": status, "message": "no"}})
    with pytest.raises(kind) as caught:
        client.call("countTokens", "tok", {})
    assert caught.value.code == status and caught.value.message == "no"


def test_every_origin_down_reports_the_last_failure(client, mock):
    mock.post(A + "/v1internal:countTokens", status=503, json={"error": {"code": 503, "message": "a down"}})
    mock.post(B + "/v1internal:countTokens", status=500, json={"error": {"code": 500, "message": "b down"}})
    with pytest.raises(ServerFailed, match="b down"):
        client.call("countTokens", "tok", {})


def test_timeouts_are_504(client, mock):
    mock.post(A + "/v1internal:countTokens", body=requests.ReadTimeout())
    mock.post(B + "/v1internal:countTokens", body=requests.ConnectTimeout())
    with pytest.raises(TransportFailed) as caught:
        client.call("countTokens", "tok", {})
    assert caught.value.code == 504 and caught.value.status == "DEADLINE_EXCEEDED"


def test_the_environment_is_not_read_per_call(client, monkeypatch):
    # Proxies come from Settings, resolved once; requests must not look at the environment again.
    assert client.session.trust_env is False
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with responses.RequestsMock() as mock:
        mock.post(A + "/v1internal:countTokens", json={"totalTokens": 1})
        assert client.call("countTokens", "tok", {}).json() == {"totalTokens": 1}


def test_operations_are_polled_with_get(client, mock):
    mock.get(A + "/v1internal/operations/onboard-1", json={"done": True})
    assert client.get_operation("operations/onboard-1", "tok") == {"done": True}


def test_the_shared_session_keeps_no_cookie(client, mock):
    # One session serves every account, for API and OAuth calls: a cookie kept from one would ride along.
    cookie = {"Set-Cookie": "NID=secret; Path=/"}
    mock.post(A + "/v1internal:countTokens", json={"totalTokens": 1}, headers=cookie)
    mock.post(A + "/token", json={"access_token": "t"}, headers=cookie)
    client.call("countTokens", "tok", {})
    client.session.post(A + "/token", data={"grant_type": "refresh_token"})
    assert len(client.session.cookies) == 0


def test_the_configured_proxy_carries_every_call(upstream):
    # The origin does not resolve: the call can only succeed through the proxy (the fake reads absolute URLs).
    token = access_token(upstream)
    settings = Settings.from_env(
        {"GATEWAY_UPSTREAM_URLS": "http://upstream.invalid", "GATEWAY_UPSTREAM_PROXY": upstream.url}
    )
    answer = UpstreamClient(settings).call("countTokens", token, {"request": {"contents": []}})
    assert answer.json() == {"totalTokens": 0}
    assert upstream.calls_to("countTokens")[0].headers["Host"] == "upstream.invalid"


def test_no_proxy_origins_are_reached_directly(upstream):
    token = access_token(upstream)
    settings = Settings.from_env(
        {"GATEWAY_UPSTREAM_URLS": upstream.url, "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}
    )
    assert UpstreamClient(settings).call("countTokens", token, {}).json() == {"totalTokens": 0}


def access_token(fake) -> str:
    """A live token for a new account of the fake."""
    fake.add_account("rt-a", "a@example.com")
    form = {"grant_type": "refresh_token", "refresh_token": "rt-a", **CLIENT_FORM}
    grant = requests.post(fake.token_url, data=form, timeout=5)
    return grant.json()["access_token"]


def test_a_redirect_is_never_followed_and_counts_as_an_outage(client, mock):
    # Following it would hand the account's bearer token to whatever answered.
    mock.post(A + "/v1internal:countTokens", status=302, headers={"Location": "https://evil.example/"})
    mock.post(B + "/v1internal:countTokens", status=307, headers={"Location": "https://evil.example/"})
    with pytest.raises(TransportFailed, match="redirect") as caught:
        client.call("countTokens", "tok", {})
    assert caught.value.code == 502
    assert [call.request.url for call in mock.calls] == [A + "/v1internal:countTokens", B + "/v1internal:countTokens"]


def test_the_user_agent_is_configurable(mock):
    agent = "antigravity/1.11.5 linux/amd64"
    settings = Settings.from_env({"GATEWAY_UPSTREAM_URLS": A, "GATEWAY_USER_AGENT": agent})
    call = mock.post(A + "/v1internal:countTokens", json={"totalTokens": 1})
    UpstreamClient(settings).call("countTokens", "tok", {})
    assert call.calls[0].request.headers["User-Agent"] == agent


def test_googles_version_refusal_is_the_gate_not_a_forbidden_account(mock):
    # Seen as a 403 too: classified as Forbidden it would disable every account in turn.
    refusal = "This version of Antigravity is no longer supported. Please upgrade to receive the latest features."
    agent = "antigravity/1.11.5 windows/amd64"
    settings = Settings.from_env({"GATEWAY_UPSTREAM_URLS": A, "GATEWAY_USER_AGENT": agent})
    mock.post(
        A + GENERATE, status=403, json={"error": {"code": 403, "message": refusal, "status": "PERMISSION_DENIED"}}
    )
    with pytest.raises(ClientOutdated) as caught:
        UpstreamClient(settings).call("streamGenerateContent", "tok", {}, stream=True)
    assert caught.value.code == 503 and "GATEWAY_USER_AGENT" in caught.value.message and agent in caught.value.message
