"""Google over real TLS (a CA of our own, GATEWAY_CA_BUNDLE) and through a real CONNECT proxy (tinyproxy)."""

import time

import pytest

from gateway.config import Settings, SettingsError
from gateway.upstream.errors import proxy_name
from tests.conftest import HELLO, add_account, free_port, gateway_env, start_gateway
from tests.tinyproxy_helper import TINYPROXY, Tinyproxy
from tests.tls_helper import OPENSSL, TlsFront

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed (apt-get install openssl)")
needs_tinyproxy = pytest.mark.skipif(TINYPROXY is None, reason="tinyproxy is not installed (apt-get install tinyproxy)")


def api_calls(fake) -> list[str]:
    """The OAuth and v1internal calls the fake received (the client-version manifest is read beside them)."""
    return [call.method for call in fake.calls if not call.method.startswith("/manifest/")]


@pytest.fixture
def run_gateway(tls_upstream, tmp_path):
    """Start a gateway against the TLS fake with extra settings, one account in it; stopped after the test."""
    started = []

    def run(**settings: str):
        gateway = start_gateway(gateway_env(tls_upstream, tmp_path, GATEWAY_WORKERS="1", **settings))
        started.append(gateway)
        add_account(gateway, tls_upstream, "tls@example.com")
        return gateway

    yield run
    for gateway in started:
        gateway.stop()


def assert_nothing_benched(gateway) -> None:
    snapshot = gateway.store.snapshot()
    assert [a.enabled for a in snapshot.accounts] == [1] and not snapshot.cooldowns, snapshot
    assert gateway.store.accounts()[0].disabled_reason == ""


def test_upstream_over_tls_with_the_ca_bundle(run_gateway, tls_upstream, ca):
    gateway = run_gateway(GATEWAY_CA_BUNDLE=str(ca.cert))
    response = gateway.post(GENERATE, HELLO)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Hello"
    assert tls_upstream.url.startswith("https://")
    assert api_calls(tls_upstream) == ["token", "streamGenerateContent"]


def test_an_untrusted_upstream_certificate_fails_at_once_and_says_what_to_set(run_gateway, tls_upstream):
    gateway = run_gateway()  # the system's CAs: the test CA is not among them
    started = time.monotonic()
    response = gateway.post(GENERATE, HELLO)
    assert time.monotonic() - started < 10
    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (503, "UNAVAILABLE"), error
    assert "certificate" in error["message"] and "GATEWAY_CA_BUNDLE" in error["message"], error
    assert tls_upstream.calls == []  # no handshake completed, so nothing reached "Google"
    assert_nothing_benched(gateway)


@needs_tinyproxy
def test_calls_to_google_go_through_the_connect_proxy(run_gateway, tls_upstream, tls_proxy, ca):
    gateway = run_gateway(GATEWAY_CA_BUNDLE=str(ca.cert), GATEWAY_UPSTREAM_PROXY=tls_proxy.url)
    response = gateway.post(GENERATE, HELLO)
    assert response.status_code == 200, response.text
    target = tls_upstream.url.removeprefix("https://")
    assert any(line.startswith(f"CONNECT {target} ") for line in tls_proxy.requests()), tls_proxy.requests()
    assert api_calls(tls_upstream) == ["token", "streamGenerateContent"]


@needs_tinyproxy
def test_an_https_proxy_is_trusted_through_the_ca_bundle(run_gateway, tls_upstream, tls_proxy, ca):
    front = TlsFront(ca.server_context("127.0.0.1"), int(tls_proxy.url.rsplit(":", 1)[1]))
    try:
        gateway = run_gateway(GATEWAY_CA_BUNDLE=str(ca.cert), GATEWAY_UPSTREAM_PROXY=f"https://127.0.0.1:{front.port}")
        response = gateway.post(GENERATE, HELLO)
        assert response.status_code == 200, response.text
        assert api_calls(tls_upstream) == ["token", "streamGenerateContent"]
        assert len(tls_proxy.requests()) > 0
    finally:
        front.stop()


def refused_through(gateway, upstream, proxy_address: str) -> None:
    """Both ways a call reaches the proxy (token refresh, then v1internal with a live token): 503 naming it."""
    for _ in ("token refresh", "generate"):
        response = gateway.post(GENERATE, HELLO)
        error = response.json()["error"]
        assert (response.status_code, error["status"]) == (503, "UNAVAILABLE"), error
        assert f"proxy {proxy_address}" in error["message"], error
        assert "secret" not in response.text
        assert_nothing_benched(gateway)
        account = gateway.store.accounts()[0]
        gateway.store.update(account.id, access_token="ya29.live", token_expiry=time.time() + 3600)
    assert upstream.calls == []
    assert "secret" not in (gateway.store.path.parent / "gunicorn.log").read_text()


def test_a_dead_proxy_is_named_and_no_account_is_benched(run_gateway, tls_upstream, ca):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    gateway = run_gateway(GATEWAY_CA_BUNDLE=str(ca.cert), GATEWAY_UPSTREAM_PROXY=f"http://user:secret@{dead}")
    refused_through(gateway, tls_upstream, dead)
    gateway.store.update(gateway.store.accounts()[0].id, access_token="", token_expiry=0)
    refreshed = gateway.cli("accounts", "refresh")
    assert refreshed.returncode == 1 and "Traceback" not in refreshed.stderr, refreshed.stderr
    assert f"proxy {dead} failed" in refreshed.stdout and "secret" not in refreshed.stdout + refreshed.stderr
    assert_nothing_benched(gateway)


@needs_tinyproxy
def test_a_proxy_refusing_connect_is_named_and_no_account_is_benched(run_gateway, tls_upstream, ca, tmp_path):
    # This tinyproxy allows CONNECT to another port only: it answers the gateway's CONNECT with 403.
    picky = Tinyproxy(tmp_path, free_port(), connect_ports=(free_port(),))
    try:
        gateway = run_gateway(GATEWAY_CA_BUNDLE=str(ca.cert), GATEWAY_UPSTREAM_PROXY=picky.url)
        refused_through(gateway, tls_upstream, picky.url.removeprefix("http://"))
        assert any(line.startswith("CONNECT 127.0.0.1:") for line in picky.requests())
    finally:
        picky.stop()


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "not-pem"])
def test_an_unusable_ca_bundle_is_refused_naming_the_variable(tmp_path, content):
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    with pytest.raises(SettingsError, match=f"^GATEWAY_CA_BUNDLE: cannot use {bundle} "):
        Settings.from_env({"GATEWAY_CA_BUNDLE": str(bundle)})


def test_the_ca_bundle_is_read_as_an_absolute_path(ca, monkeypatch):
    monkeypatch.chdir(ca.cert.parent)
    assert Settings.from_env({"GATEWAY_CA_BUNDLE": ca.cert.name}).ca_bundle == str(ca.cert)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://user:secret@proxy.corp:3128", "proxy.corp:3128"),
        ("http://[::1]:8888", "[::1]:8888"),
        ("https://proxy.corp", "proxy.corp:443"),
        ("proxy.corp", "proxy.corp:80"),
    ],
)
def test_a_proxy_is_named_by_host_and_port_only(url, name):
    assert proxy_name(url) == name
