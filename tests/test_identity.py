"""The client identity (upstream/identity.py): the auto-updater manifest's release, else the built-in one."""

import json
import logging
import time

import pytest

from gateway.accounts.store import Store
from gateway.config import Settings
from gateway.upstream import identity
from gateway.upstream.client import UpstreamClient, new_session
from gateway.upstream.identity import (
    BUILT_IN_USER_AGENT,
    ClientIdentity,
    ManifestUnreadable,
    SharedRelease,
    manifest_version,
    user_agent_for,
)
from tests.conftest import HELLO, add_account, free_port, wait_for
from tests.console_helper import console_session
from tests.fake_upstream import Reply, manifest

FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (manifest("2.38.1"), "2.38.1"),
        ("version: '2.40.0'\npath: x.zip\n", "2.40.0"),
        ('files: []\nversion: "2.41.3"  # hub\n', "2.41.3"),
        ("version: 2.50.0-beta.2\n", "2.50.0-beta.2"),
    ],
)
def test_the_top_level_version_line_is_read(text, version):
    assert manifest_version(text) == version


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html><body>502 Bad Gateway</body></html>",
        "files:\n  - version: 2.38.0\n",  # nested, not top-level
        "version: latest\n",
        "version: 2.38.0 darwin/arm64 extra\n",
        "version: 1.11.5\n",  # older than anything Google still serves: not the current release
        '{"version": "2.38.0"}',
    ],
)
def test_anything_else_is_unreadable(text):
    with pytest.raises(ManifestUnreadable):
        manifest_version(text)


def test_the_built_in_identity_is_the_hub_shape_of_late_2026():
    assert user_agent_for(identity.BUILT_IN_VERSION) == BUILT_IN_USER_AGENT
    assert BUILT_IN_USER_AGENT.startswith("antigravity/hub/2.") and BUILT_IN_USER_AGENT.endswith(" darwin/arm64")
    assert ClientIdentity("auto").user_agent == BUILT_IN_USER_AGENT


@pytest.mark.parametrize("value", ["", "auto", "AUTO", " Auto "])
def test_auto_is_the_default_in_any_case(value):
    settings = Settings.from_env({"GATEWAY_USER_AGENT": value} if value else {})
    assert settings.user_agent == "auto" and settings.client_manifest_url == identity.DEFAULT_MANIFEST_URL
    assert UpstreamClient(settings).user_agent == BUILT_IN_USER_AGENT  # until the manifest answers


def test_an_explicit_user_agent_is_sent_as_given_and_never_fetched(google):
    chosen = ClientIdentity("antigravity/1.11.5 windows/amd64", google.url + "/manifest/never.yml")
    chosen.refresh(new_session(), {})
    assert chosen.user_agent == "antigravity/1.11.5 windows/amd64"
    assert not [c for c in google.calls if c.path == "/manifest/never.yml"]


def test_the_manifest_release_replaces_the_built_in_one(upstream):
    upstream.manifests["newer.yml"] = Reply(text=manifest("2.38.0"))
    auto = ClientIdentity("auto", upstream.url + "/manifest/newer.yml")
    auto.refresh(new_session(), {})
    assert auto.user_agent == "antigravity/hub/2.38.0 darwin/arm64" and auto.source == "manifest"


def unreadable_manifests(upstream, port: int) -> dict[str, str]:
    """A manifest URL per way of failing."""
    upstream.manifests.update(
        {
            "missing.yml": Reply(404, {"error": "not found"}),
            "slow.yml": Reply(text=manifest("2.38.0"), delay=2),
            "trickling.yml": Reply(text=manifest("2.38.0"), text_pieces=8, event_delay=0.3),
            "html.yml": Reply(text="<html>Service Unavailable</html>"),
            "bare.yml": Reply(text="files: []\npath: x.zip\n"),
        }
    )
    urls = {name: f"{upstream.url}/manifest/{name}" for name in upstream.manifests}
    urls["unreachable"] = f"http://127.0.0.1:{port}/manifest/latest-arm64-mac.yml"
    return urls


@pytest.mark.parametrize("case", ["missing.yml", "slow.yml", "trickling.yml", "html.yml", "bare.yml", "unreachable"])
def test_an_unreadable_manifest_leaves_the_built_in_one_and_warns_once(upstream, monkeypatch, caplog, case):
    monkeypatch.setattr(identity, "FETCH_TIMEOUT", 1.0)  # a slow manifest is given up after this
    auto = ClientIdentity("auto", unreadable_manifests(upstream, free_port())[case])
    with caplog.at_level(logging.WARNING, logger="gateway.upstream.identity"):
        for _ in range(3):  # the start, then two 6-hourly refreshes
            auto.refresh(new_session(), {})
    assert auto.user_agent == BUILT_IN_USER_AGENT and auto.source == "built-in"
    warnings = [r for r in caplog.records if r.name == "gateway.upstream.identity"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert BUILT_IN_USER_AGENT in warnings[0].getMessage() and auto.manifest_url in warnings[0].getMessage()


def test_a_release_read_once_is_kept_when_the_manifest_fails_later(upstream):
    upstream.manifests["flaky.yml"] = Reply(text=manifest("2.39.0"))
    auto = ClientIdentity("auto", upstream.url + "/manifest/flaky.yml")
    auto.refresh(new_session(), {})
    upstream.manifests["flaky.yml"] = Reply(503, {"error": "down"})
    auto.refresh(new_session(), {})
    assert auto.user_agent == "antigravity/hub/2.39.0 darwin/arm64"


def test_the_workers_of_a_host_read_the_manifest_once_and_share_it(upstream, tmp_path, caplog):
    upstream.manifests["shared.yml"] = Reply(text=manifest("2.45.0"))
    url = upstream.url + "/manifest/shared.yml"
    workers = [ClientIdentity("auto", url, SharedRelease(Store(tmp_path / "gateway.db"))) for _ in range(2)]
    for worker in workers:
        worker.refresh(new_session(), {})
    assert {w.user_agent for w in workers} == {"antigravity/hub/2.45.0 darwin/arm64"}
    assert len([c for c in upstream.calls if c.path == "/manifest/shared.yml"]) == 1
    cli = ClientIdentity("auto", url, SharedRelease(Store(tmp_path / "gateway.db")))  # a later process
    assert cli.user_agent == "antigravity/hub/2.45.0 darwin/arm64"  # starts from what the workers read


def test_a_failed_read_is_one_warning_for_every_worker_of_the_host(upstream, tmp_path, caplog):
    upstream.manifests["gone.yml"] = Reply(404, {"error": "not found"})
    url = upstream.url + "/manifest/gone.yml"
    workers = [ClientIdentity("auto", url, SharedRelease(Store(tmp_path / "gateway.db"))) for _ in range(2)]
    with caplog.at_level(logging.WARNING, logger="gateway.upstream.identity"):
        for worker in workers:
            worker.refresh(new_session(), {})
    assert len([r for r in caplog.records if r.name == "gateway.upstream.identity"]) == 1
    assert {w.user_agent for w in workers} == {BUILT_IN_USER_AGENT}


# ---- the real gateway ----


def test_a_gateway_sends_the_manifest_release_on_every_call(own_gateway, upstream):
    upstream.manifests["current.yml"] = Reply(text=manifest("2.44.0"))
    gateway = own_gateway("identity-current", GATEWAY_CLIENT_MANIFEST_URL=upstream.url + "/manifest/current.yml")
    wanted = "antigravity/hub/2.44.0 darwin/arm64"
    for _ in range(4):  # both workers read it
        wait_for(lambda: gateway.get("/healthz").json()["client_version"] == wanted)
    add_account(gateway, upstream, "a@example.com")
    for _ in range(2):
        assert gateway.post(FLASH, HELLO).status_code == 200
    calls = [c for c in upstream.calls if c.method in ("streamGenerateContent", "loadCodeAssist")]
    assert calls and {c.headers["User-Agent"] for c in calls} == {wanted}
    assert {c.body["userAgent"] for c in calls if c.method == "streamGenerateContent"} == {wanted}
    start = next(line for line in gateway.log_lines() if "serving on" in line["message"])
    assert "client " + BUILT_IN_USER_AGENT in start["message"] and "auto" in start["message"]
    assert [line for line in gateway.log_lines() if "2.44.0" in line["message"] and line["level"] == "info"]


def test_a_gateway_whose_manifest_is_unreachable_starts_on_the_built_in_release(own_gateway, upstream):
    url = f"http://127.0.0.1:{free_port()}/manifest/latest-arm64-mac.yml"
    gateway = own_gateway("identity-unreachable", GATEWAY_CLIENT_MANIFEST_URL=url)  # 2 workers, one reads it
    warning = wait_for(lambda: [line for line in gateway.log_lines() if line["level"] == "warning"])
    assert url in warning[0]["message"] and BUILT_IN_USER_AGENT in warning[0]["message"]
    wait_for(lambda: len([line for line in gateway.log_lines() if "Booting worker" in line["message"]]) == 2)
    time.sleep(1)  # the second worker's first refresh, right after it booted, has taken what the first one read
    assert [line for line in gateway.log_lines() if line["level"] == "warning"] == warning  # one line, not two
    assert gateway.get("/healthz").json()["client_version"] == BUILT_IN_USER_AGENT
    add_account(gateway, upstream, "a@example.com")
    assert gateway.post(FLASH, HELLO).status_code == 200
    assert upstream.calls_to("streamGenerateContent")[-1].headers["User-Agent"] == BUILT_IN_USER_AGENT


def test_an_explicit_user_agent_is_what_the_gateway_sends_and_shows(own_gateway, upstream):
    agent = "antigravity/hub/2.30.0 darwin/arm64"
    gateway = own_gateway("identity-explicit", GATEWAY_USER_AGENT=agent)
    assert gateway.get("/healthz").json()["client_version"] == agent
    add_account(gateway, upstream, "a@example.com")
    assert gateway.post(FLASH, HELLO).status_code == 200
    call = upstream.calls_to("streamGenerateContent")[-1]
    assert call.headers["User-Agent"] == call.body["userAgent"] == agent
    start = next(line for line in gateway.log_lines() if "serving on" in line["message"])
    assert json.dumps(agent)[1:-1] in start["message"]
    session, _ = console_session(gateway)
    assert session.get(gateway.url + "/console/api/state", timeout=10).json()["client_version"] == agent
    assert '<code data-field="client-version"' in session.get(gateway.url + "/console", timeout=10).text
    assert f">{agent}</code>" in session.get(gateway.url + "/console", timeout=10).text
