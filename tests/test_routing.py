"""Model routing end to end: aliases, fallback chains, and accounts that serve only the models they list."""

import re

import pytest

from gateway.catalog import Catalog
from gateway.config import Settings, SettingsError
from gateway.routing import Aliases, Fallback, distinct
from tests.conftest import (
    HELLO,
    add_account,
    emptied,
    quota_error,
    request_lines,
    wait_for,
)
from tests.fake_upstream import Reply, iso_after

# Less specific patterns first: the order they are given in must not matter.
ALIASES = "gpt-*=gemini-2.5-flash, gpt-4*=gemini-2.5-pro, gemini-pro-latest=gemini-2.5-pro, gemini-3.5-*=gemini-3-flash"
FALLBACKS = "gemini-3-pro-high>gemini-2.5-pro>gemini-2.5-flash"
HIGH, PRO, FLASH = "gemini-3-pro-high", "gemini-2.5-pro", "gemini-2.5-flash"


@pytest.fixture(scope="module")
def routed_server(own_gateway):
    return own_gateway("gateway-routing", GATEWAY_MODEL_ALIASES=ALIASES, GATEWAY_MODEL_FALLBACKS=FALLBACKS)


@pytest.fixture
def routed(routed_server, upstream):
    return emptied(routed_server)


@pytest.fixture
def alice(routed, upstream) -> str:
    add_account(routed, upstream, "alice@example.com")
    return "alice@example.com"


def generate(gateway, model: str, text: str = "Hello there, gateway"):
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    return gateway.post(f"/v1beta/models/{model}:generateContent", body)


def sent_models(upstream) -> list[str]:
    return [call.body["model"] for call in upstream.calls_to("streamGenerateContent")]


def fetch_model_lists(gateway) -> None:
    """Store every account's model list the way an operator does: `gateway accounts quota`."""
    result = gateway.cli("accounts", "quota")
    assert result.returncode == 0, result.stderr


def request_log(gateway, request_id: str) -> dict:
    """The gateway.request log line of one request (written when its last byte is sent)."""

    def traced() -> list[dict]:
        return [line for line in request_lines(gateway, request_id) if line["logger"] == "gateway.request"]

    return wait_for(traced)[0]


def fallback_count(gateway, source: str, target: str) -> float:
    metrics = gateway.get("/metrics").text
    found = re.search(rf'gateway_fallbacks_total\{{from="{source}",to="{target}"\}} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("gemini-pro-latest", PRO),  # exact
        ("gpt-3.5-turbo", FLASH),  # wildcard
        ("gpt-4o", PRO),  # the more specific of two matching patterns
        (FLASH, FLASH),  # no alias matches: unchanged
    ],
)
def test_aliases_are_resolved_before_the_request_goes_upstream(routed, upstream, alice, asked, expected):
    response = generate(routed, asked)
    assert response.status_code == 200, response.text
    assert sent_models(upstream) == [expected]
    assert response.json()["modelVersion"] == expected  # what upstream answered, untouched
    assert request_log(routed, response.headers["X-Request-Id"])["model"] == expected


def test_an_alias_works_for_streams_and_count_tokens(routed, upstream, alice):
    stream = routed.post("/v1beta/models/gpt-4o:streamGenerateContent?alt=sse", HELLO)
    assert stream.status_code == 200 and "text/event-stream" in stream.headers["Content-Type"]
    count = routed.post("/v1/models/gemini-pro-latest:countTokens", HELLO)
    assert count.status_code == 200 and count.json()["totalTokens"] == 3
    assert upstream.calls_to("countTokens")[0].body["request"]["model"] == f"models/{PRO}"
    assert sent_models(upstream) == [PRO]


def test_fallback_when_every_account_cools_down(routed, upstream, alice):
    before = fallback_count(routed, HIGH, PRO)
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("60s")), account=alice)
    first = generate(routed, HIGH)
    # The 429 cooled the only account for gemini-3-pro-high: the same request is served by the fallback.
    assert first.status_code == 200, first.text
    assert sent_models(upstream) == [HIGH, PRO]
    assert first.json()["modelVersion"] == PRO
    line = request_log(routed, first.headers["X-Request-Id"])
    assert line["model"] == PRO and line["fallback_from"] == HIGH and line["attempts"] == 2
    # While it cools down, requests for it go straight to the fallback.
    second = generate(routed, HIGH, "another conversation entirely")
    assert second.status_code == 200 and sent_models(upstream) == [HIGH, PRO, PRO]
    assert fallback_count(routed, HIGH, PRO) == before + 2


def test_fallback_chain_goes_on_to_the_next_model(routed, upstream, alice):
    account_id = routed.store.find(alice).id
    routed.store.set_cooldown(account_id, HIGH, 60, "RESOURCE_EXHAUSTED")
    routed.store.set_cooldown(account_id, PRO, 60, "RESOURCE_EXHAUSTED")
    before = fallback_count(routed, HIGH, FLASH)
    response = generate(routed, HIGH)
    assert response.status_code == 200 and sent_models(upstream) == [FLASH]
    assert fallback_count(routed, HIGH, FLASH) == before + 1


def test_each_model_of_the_chain_gets_its_own_attempts(routed, upstream):
    # GATEWAY_MAX_RETRY_ATTEMPTS is 3: four 429s spent on the first two models must not end the chain.
    for email in ("one@example.com", "two@example.com"):
        add_account(routed, upstream, email)
        upstream.script("streamGenerateContent", *[Reply(status=429, json=quota_error("60s"))] * 2, account=email)
    response = generate(routed, HIGH)
    assert response.status_code == 200, response.text
    assert sent_models(upstream) == [HIGH, HIGH, PRO, PRO, FLASH]
    assert response.json()["modelVersion"] == FLASH
    line = request_log(routed, response.headers["X-Request-Id"])
    assert line["model"] == FLASH and line["fallback_from"] == HIGH and line["attempts"] == 5


def test_every_model_of_the_chain_cooling_down_is_a_429(routed, upstream, alice):
    account_id = routed.store.find(alice).id
    for model in (HIGH, PRO, FLASH):
        routed.store.set_cooldown(account_id, model, 60, "RESOURCE_EXHAUSTED")
    response = generate(routed, HIGH)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 59
    assert HIGH in response.json()["error"]["message"] and sent_models(upstream) == []


def test_fallback_when_the_quota_reading_shows_the_model_used_up(routed, upstream):
    add_account(routed, upstream, "spent@example.com")
    quota = {"remainingFraction": 1.0, "resetTime": iso_after(86400)}
    models = {model: {"quotaInfo": quota} for model in (PRO, FLASH)}
    models[HIGH] = {"quotaInfo": {"resetTime": iso_after(86400)}}  # Google omits the fraction at 0
    upstream.script("fetchAvailableModels", Reply(json={"models": models}))
    fetch_model_lists(routed)
    response = generate(routed, HIGH)
    assert response.status_code == 200 and sent_models(upstream) == [PRO]


def test_another_account_with_quota_comes_before_a_fallback(routed, upstream):
    add_account(routed, upstream, "a@example.com")
    add_account(routed, upstream, "b@example.com")
    routed.store.set_cooldown(routed.store.find("a@example.com").id, HIGH, 60, "RESOURCE_EXHAUSTED")
    for n in range(4):
        assert generate(routed, HIGH, f"conversation number {n}").status_code == 200
    assert sent_models(upstream) == [HIGH] * 4
    assert {call.account for call in upstream.calls_to("streamGenerateContent")} == {"b@example.com"}


def test_no_fallback_when_none_is_configured(gateway, upstream, account):
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("60s")), account=account)
    response = generate(gateway, HIGH)
    assert response.status_code == 429 and sent_models(upstream) == [HIGH]
    assert generate(gateway, HIGH, "another conversation entirely").status_code == 429
    assert sent_models(upstream) == [HIGH]


def test_a_mixed_pool_serves_each_model_only_from_accounts_that_list_it(gateway, upstream):
    add_account(gateway, upstream, "paid@example.com", models=(FLASH, PRO))
    add_account(gateway, upstream, "free@example.com", models=(FLASH,))
    fetch_model_lists(gateway)
    for n in range(8):
        assert generate(gateway, PRO, f"conversation number {n}").status_code == 200
        assert generate(gateway, FLASH, f"conversation number {n}").status_code == 200
    by_model: dict[str, set] = {}
    for call in upstream.calls_to("streamGenerateContent"):
        by_model.setdefault(call.body["model"], set()).add(call.account)
    assert by_model == {PRO: {"paid@example.com"}, FLASH: {"paid@example.com", "free@example.com"}}
    # A model no account lists: a Google-shaped 404 before anything goes upstream.
    missing = generate(gateway, HIGH)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    assert HIGH in missing.json()["error"]["message"]
    # The only account that lists it is disabled: nobody serves it any more.
    assert gateway.cli("accounts", "disable", "paid@example.com").returncode == 0
    assert generate(gateway, PRO).status_code == 404
    assert len(upstream.calls_to("streamGenerateContent")) == 16


def names(gateway, path: str = "/v1beta/models") -> list[str]:
    return [
        model["name"].removeprefix("models/") for model in gateway.get(path, params={"pageSize": 1000}).json()["models"]
    ]


def test_models_lists_what_the_accounts_serve_plus_aliases(routed, upstream):
    add_account(routed, upstream, "paid@example.com", models=(FLASH, PRO))
    add_account(routed, upstream, "free@example.com", models=(FLASH,))
    add_account(routed, upstream, "off@example.com", models=(HIGH,))
    fetch_model_lists(routed)
    routed.cli("accounts", "disable", "off@example.com")
    # gemini-3.5-* has no fixed name to list; gemini-3-flash (its target) is served by nobody.
    assert names(routed) == [FLASH, PRO, "gemini-pro-latest"]
    assert names(routed, "/models") == names(routed)
    alias = routed.get("/v1beta/models/gemini-pro-latest").json()
    assert alias["name"] == "models/gemini-pro-latest" and alias["displayName"] == PRO
    assert "generateContent" in alias["supportedGenerationMethods"]
    pattern = routed.get("/models/gpt-4o").json()  # a pattern alias answers GET too
    assert pattern["name"] == "models/gpt-4o" and pattern["displayName"] == PRO
    assert routed.get("/v1beta/models/claude-sonnet-4-6").status_code == 404
    unserved = generate(routed, "gemini-3.5-flash")
    assert unserved.status_code == 404 and "gemini-3-flash" in unserved.json()["error"]["message"]


def test_the_built_in_list_only_while_no_account_has_a_model_list(routed, upstream, alice):
    builtin = names(routed)
    assert "claude-sonnet-4-6" in builtin and "gemini-pro-latest" in builtin and len(builtin) > 10
    fetch_model_lists(routed)  # the fake lists three models
    assert names(routed) == [FLASH, PRO, HIGH, "gemini-pro-latest"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("MODEL_ALIASES", "a=b,b=a", "cycle"),
        ("MODEL_ALIASES", "a=a", "cycle"),
        ("MODEL_ALIASES", "gpt-4o", "from=to"),
        ("MODEL_ALIASES", "gpt-*=gemini-*", "gemini-*"),
        ("MODEL_ALIASES", "a=b,a=c", "two targets"),
        ("MODEL_FALLBACKS", "a>b>a", "cycle"),
        ("MODEL_FALLBACKS", "a>b,b>c,c>a", "cycle"),
        ("MODEL_FALLBACKS", "a", "chain"),
        ("MODEL_FALLBACKS", "a>>b", "model id"),
        ("MODEL_FALLBACKS", "a>b,a>c", "two fallbacks"),
    ],
)
def test_bad_routing_settings_are_refused_in_one_line(variable, value, named):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({f"GATEWAY_{variable}": value})
    message = str(refused.value)
    assert message.startswith(f"GATEWAY_{variable}: ") and named in message and "\n" not in message


def test_exact_aliases_resolve_in_one_lookup_and_patterns_by_specificity():
    aliases = Settings.from_env({"GATEWAY_MODEL_ALIASES": "*=d, a*=c, ab*=b, abc=x, x=y"}).model_aliases
    assert [aliases.resolve(m) for m in ("abc", "x", "abd", "az", "zz", "y")] == ["y", "y", "b", "c", "d", "d"]
    fallbacks = Settings.from_env({"GATEWAY_MODEL_FALLBACKS": "a>b, b>c"}).model_fallbacks
    assert fallbacks.after("a") == ("b", "c") and fallbacks.after("b") == ("c",) and fallbacks.after("c") == ()


def test_fallbacks_that_translate_to_the_same_upstream_model_are_dropped():
    def fallback(name: str, model: str) -> Fallback:
        return Fallback(name, model, {"name": name})

    chain = (fallback("a-online", "a"), fallback("b", "b"), fallback("b-16x9", "b"))
    assert distinct("a", chain) == (chain[1],)


def test_an_alias_may_carry_settings_suffixes_for_translation():
    """`wide=gemini-3-pro-image-16x9-4k`: the suffixes ride on the served id, as when a client writes them."""
    catalog = Catalog(Aliases.parse("wide=gemini-3-pro-image-16x9-4k, search=gemini-2.5-flash-online"))
    catalog.refresh(())
    assert catalog.serve("wide") == "gemini-3-pro-image-16x9-4k"
    assert catalog.serve("search") == "gemini-2.5-flash-online"
    assert catalog.serve("gemini-3-pro-image-4k") == "gemini-3-pro-image-4k"
    assert catalog.serve("nowhere-online") is None
    listed = {entry["name"]: entry["displayName"] for entry in catalog.models()}
    assert listed["models/wide"] == "gemini-3-pro-image-16x9-4k"
    assert listed["models/search"] == "gemini-2.5-flash-online"
