"""Settings from GATEWAY_* variables."""

import re
from pathlib import Path

import pytest

from gateway.config import DEFAULT_UPSTREAM_URLS, Settings, SettingsError, bypasses_proxy


def test_defaults():
    settings = Settings.from_env({})
    assert settings.bind == "127.0.0.1:8045"
    assert settings.workers == 2
    assert settings.auth_mode == "off"  # auto on a loopback bind
    assert settings.upstream_urls == DEFAULT_UPSTREAM_URLS
    assert settings.max_retry_attempts == 3
    assert settings.database.name == "gateway.db"


@pytest.mark.parametrize(
    ("bind", "key", "mode"),
    [
        ("127.0.0.1:8045", "", "off"),
        ("[::1]:8045", "", "off"),
        ("localhost:1", "", "off"),
        ("unix:/run/gateway.sock", "", "off"),
        ("127.0.0.1:8045", "k", "all_except_health"),
        ("[::1]:8045", "k", "all_except_health"),
        ("0.0.0.0:8045", "", "all_except_health"),
        ("10.0.0.5:80", "k", "all_except_health"),
    ],
)
def test_auto_auth_is_off_only_on_loopback_without_a_key(bind, key, mode):
    assert Settings.from_env({"GATEWAY_BIND": bind, "GATEWAY_API_KEY": key}).auth_mode == mode


def test_values_are_read():
    settings = Settings.from_env(
        {
            "GATEWAY_DATA_DIR": "/srv/gw",
            "GATEWAY_API_KEY": "sekrit-api-key",
            "GATEWAY_AUTH_MODE": "strict",
            "GATEWAY_UPSTREAM_URLS": "http://127.0.0.1:1, https://b.example:8443/",
            "GATEWAY_MAX_RETRY_ATTEMPTS": "5",
        }
    )
    assert settings.data_dir == Path("/srv/gw")
    assert settings.auth_mode == "strict"
    assert settings.upstream_urls == ("http://127.0.0.1:1", "https://b.example:8443")
    assert settings.max_retry_attempts == 5
    assert "sekrit" not in repr(settings)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_MODE", "sometimes"),
        ("WORKERS", "zero"),
        ("WORKERS", "0"),
        ("MAX_RETRY_ATTEMPTS", "-1"),
        ("UPSTREAM_URLS", "ftp://x"),
        ("UPSTREAM_URLS", "https://host/v1internal"),
        ("OAUTH_TOKEN_URL", "nope"),
        ("USER_AGENT", "agent\r\nX-Injected: 1"),
        ("CORS_ORIGINS", "app.example"),
        ("CORS_ORIGINS", "https://app.example/path"),
        ("USER_AGENT", "agent\u00e9"),
        ("BIND", "0.0.0.0"),
        ("BIND", "127.0.0.1:65536"),
        ("BIND", "::1:8045"),
        ("UPSTREAM_PROXY", "not a url"),
        ("UPSTREAM_PROXY", "ftp://proxy:21"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1/8"),
        ("CLIENT_MANIFEST_URL", "antigravity-hub.example/manifest.yml"),
        ("FILES_MAX_BYTES", "20M"),
        ("FILES_MAX_BYTES", "0"),
    ],
)
def test_bad_values_fail_at_start_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"GATEWAY_{name}"):
        Settings.from_env({f"GATEWAY_{name}": value})


def test_proxy_is_resolved_once_from_the_standard_variables():
    settings = Settings.from_env({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "127.0.0.1,.internal"})
    assert settings.upstream_proxies == {"https": "http://proxy:3128"}
    assert bypasses_proxy("http://127.0.0.1:9000", settings.no_proxy)
    assert not bypasses_proxy("https://cloudcode-pa.googleapis.com", settings.no_proxy)


@pytest.mark.parametrize("bind", ["127.0.0.1:8045", "[::]:0", "gw.internal:80", "unix:/run/gw.sock"])
def test_good_binds_are_taken(bind):
    assert Settings.from_env({"GATEWAY_BIND": bind, "GATEWAY_API_KEY": "k"}).bind == bind


def test_a_bad_proxy_url_is_named_without_its_password():
    with pytest.raises(SettingsError, match="GATEWAY_UPSTREAM_PROXY") as refused:
        Settings.from_env({"GATEWAY_UPSTREAM_PROXY": "http://user:s3cret@bad host:3128"})
    assert "s3cret" not in str(refused.value)


def test_explicit_proxy_wins():
    settings = Settings.from_env({"GATEWAY_UPSTREAM_PROXY": "127.0.0.1:7890", "HTTPS_PROXY": "http://other"})
    assert settings.upstream_proxies == {"http": "http://127.0.0.1:7890", "https": "http://127.0.0.1:7890"}


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("GATEWAY_API_KYE", "did you mean GATEWAY_API_KEY?"),
        ("GATEWAY_WORKER", "did you mean GATEWAY_WORKERS?"),
        ("GATEWAY_STATEURL", "did you mean GATEWAY_STATE_URL?"),
        ("GATEWAY_SOMETHING_ELSE", ""),
    ],
)
def test_an_unknown_variable_is_refused_with_the_nearest_name(name, hint):
    """A typo must not leave auth off (GATEWAY_API_KYE) or a setting unapplied without a word."""
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: "value", "GATEWAY_API_KEY": "k"})
    message = str(refused.value)
    assert message.startswith(f"{name} is not a setting") and "\n" not in message
    assert (hint in message) if hint else ("did you mean" not in message)


def test_every_variable_read_is_documented_and_every_documented_one_read():
    from gateway.config import VARIABLES

    table = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `GATEWAY_(\w+)`(?:, `GATEWAY_(\w+)`)?", table, re.M))
    assert {name for pair in documented for name in pair if name} == VARIABLES
