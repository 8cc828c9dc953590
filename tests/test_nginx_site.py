"""The shipped nginx site under real nginx, in both stages: plain HTTP (for certbot) and its TLS variant."""

import pytest
import requests

from tests.conftest import API_KEY, free_port
from tests.fake_upstream import Reply
from tests.nginx_helper import NGINX, Nginx, Tls, check, render_nginx, tls_variant
from tests.sdk_helper import genai_client
from tests.test_deploy import read_stream, ticks
from tests.tls_helper import OPENSSL, CertificateAuthority

DOMAIN = "gemini.test"
CHALLENGE = "/.well-known/acme-challenge/"
pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
    pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed (apt-get install openssl)"),
]


@pytest.fixture
def tls(tmp_path) -> Tls:
    ca = CertificateAuthority.create(tmp_path)
    return Tls(free_port(), *ca.issue(DOMAIN, "127.0.0.1"))


def put_challenge(prefix, token: str) -> str:
    """A file as certbot --webroot writes it; returns its content."""
    directory = prefix / "webroot" / CHALLENGE.strip("/")
    directory.mkdir(parents=True)
    (directory / token).write_text(f"{token}.key-authorization")
    return f"{token}.key-authorization"


def assert_challenge_served(url: str, prefix) -> None:
    content = put_challenge(prefix, "tok-Ab_9")
    served = requests.get(url + CHALLENGE + "tok-Ab_9", timeout=10, allow_redirects=False)
    assert (served.status_code, served.text) == (200, content)
    assert served.headers["Content-Type"] == "text/plain"
    missing = requests.get(url + CHALLENGE + "unknown", timeout=10, allow_redirects=False)
    assert missing.status_code == 404 and "application/json" not in missing.headers["Content-Type"]  # not the API


def test_both_stages_pass_nginx_t(tmp_path, tls):
    assert check(render_nginx(tmp_path, free_port(), "127.0.0.1:8045")).returncode == 0
    result = check(render_nginx(tmp_path, free_port(), "127.0.0.1:8045", site=tls_variant(tmp_path, DOMAIN), tls=tls))
    assert result.returncode == 0, result.stderr
    assert "conflicting server name" not in result.stderr, result.stderr


def test_the_tls_switch_leaves_no_commented_tls_line_and_names_the_domain(tmp_path):
    site = tls_variant(tmp_path, "gw.example.org")
    lines = site.splitlines()
    assert not [line for line in lines if line.startswith("#tls") or line.endswith("# HTTP only")]
    assert "gemini.example.com" not in site
    assert "ssl_certificate     /etc/letsencrypt/live/gw.example.org/fullchain.pem;" in site
    assert site.count("server_name gw.example.org;") == 2  # the HTTPS server and the port-80 redirect


@pytest.fixture
def http_stage(gateway, tmp_path):
    port = free_port()
    proxy = Nginx(render_nginx(tmp_path, port, gateway.url.removeprefix("http://")), f"http://127.0.0.1:{port}")
    yield proxy
    proxy.stop()


def test_http_stage_serves_challenges_from_the_webroot_and_proxies_the_api(http_stage, tmp_path, upstream, account):
    assert_challenge_served(http_stage.url, tmp_path)
    models = requests.get(http_stage.url + "/v1beta/models", headers={"x-goog-api-key": API_KEY}, timeout=10)
    assert models.status_code == 200 and models.json()["models"]
    upstream.script("streamGenerateContent", Reply(events=ticks(2), event_delay=1.5))
    texts, times = read_stream(http_stage.url)
    assert texts == ["tick 0 ", "tick 1 "] and times[0] < 1.0 <= times[1]  # event by event


@pytest.fixture
def tls_stage(gateway, tmp_path, tls):
    http_port = free_port()
    site = tls_variant(tmp_path, DOMAIN)
    config = render_nginx(tmp_path, http_port, gateway.url.removeprefix("http://"), site=site, tls=tls)
    proxy = Nginx(config, f"http://127.0.0.1:{http_port}")
    yield proxy, f"https://127.0.0.1:{tls.port}"
    proxy.stop()


def test_tls_stage_redirects_http_but_still_serves_challenges(tls_stage, tmp_path):
    http, _ = tls_stage
    response = requests.get(
        http.url + "/v1beta/models?pageSize=2", headers={"Host": DOMAIN}, timeout=10, allow_redirects=False
    )
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{DOMAIN}/v1beta/models?pageSize=2"
    assert_challenge_served(http.url, tmp_path)


def test_tls_stage_proxies_https_to_the_gateway_event_by_event(tls_stage, tls, tmp_path, upstream, account):
    _, https = tls_stage
    ca = tmp_path / "ca.pem"
    models = requests.get(https + "/v1beta/models", headers={"x-goog-api-key": API_KEY}, timeout=10, verify=ca)
    assert models.status_code == 200 and models.json()["models"]
    upstream.script("streamGenerateContent", Reply(events=ticks(2), event_delay=1.5))
    texts, times = read_stream(https, verify=ca)
    assert texts == ["tick 0 ", "tick 1 "] and times[0] < 1.0 <= times[1]


def test_an_sdk_upload_through_nginx_comes_back_to_nginx(http_stage, tmp_path, upstream, account):
    """google-genai sends each chunk to the upload URL as the gateway wrote it: behind nginx on any port, that
    URL leads back through nginx (the site passes the client's Host with its port)."""
    data = bytes(range(256)) * (9 * 4096)  # 9 MiB: an 8 MiB chunk, then the rest
    (tmp_path / "scan.pdf").write_bytes(data)
    client = genai_client(http_stage.url)
    file = client.files.upload(file=tmp_path / "scan.pdf")
    assert file.size_bytes == len(data) and file.uri.startswith(http_stage.url + "/v1beta/files/")
    assert client.models.generate_content(model="gemini-2.5-flash", contents=[file, "Summarise"]).text == "Hello"
    client.files.delete(name=file.name)
