"""Public and tiered ids resolved to what the accounts list (DESIGN.md third round, v1internal-rules.md §6):
Gemini CLI asks for `gemini-3.1-pro-preview` and `gemini-3.8-flash`; Cloud Code lists `gemini-3.1-pro-low`."""

import pytest

from gateway.accounts.store import Account
from gateway.catalog import Catalog
from tests.conftest import add_account, request_lines

LISTED = ("gemini-3.1-pro-low", "gemini-3.1-pro-high", "gemini-3.8-flash-low", "gemini-3.8-flash-medium")
LISTED += ("gemini-3.8-flash-high", "gemini-3.5-flash-lite", "gemini-4-neon-medium", "gemini-4-neon-xhigh")


def catalog_of(*models: str) -> Catalog:
    account = Account(
        id=1,
        email="a@example.com",
        refresh_token="rt",
        access_token="",
        token_expiry=0.0,
        project="proj-1",
        tier="free-tier",
        enabled=True,
        disabled_reason="",
        last_used=0.0,
        models={model: {} for model in models},
    )
    catalog = Catalog()
    catalog.refresh((account,))
    return catalog


@pytest.mark.parametrize(
    ("asked", "level", "served"),
    [
        ("gemini-3.5-flash-lite-preview", None, "gemini-3.5-flash-lite"),
        ("gemini-3.5-flash-lite-preview-09-2026", None, "gemini-3.5-flash-lite"),
        ("gemini-3.5-flash-lite-latest", None, "gemini-3.5-flash-lite"),
        ("gemini-3.8-flash", None, "gemini-3.8-flash-high"),  # no level asked: -high
        ("gemini-3.8-flash", "MEDIUM", "gemini-3.8-flash-medium"),
        ("gemini-3.8-flash", "MINIMAL", "gemini-3.8-flash-high"),  # no such tier: -high
        ("gemini-3.1-pro-preview", "LOW", "gemini-3.1-pro-low"),
        ("gemini-3.1-pro-preview", None, "gemini-3.1-pro-high"),
        ("gemini-4-neon", None, "gemini-4-neon-xhigh"),  # no -high: the highest listed
        ("gemini-4-neon", "MEDIUM", "gemini-4-neon-medium"),
        ("gemini-3.8-flash-high", "LOW", "gemini-3.8-flash-high"),  # a listed id is served as asked
        ("gemini-3.8-flash-online", "LOW", "gemini-3.8-flash-low-online"),  # suffixes ride on the tier
        ("gemini-3.9-flash", None, None),
        ("gemini-3.1-pro-previewer", None, None),
    ],
)
def test_a_public_id_resolves_to_a_listed_one(asked, level, served):
    assert catalog_of(*LISTED).serve(asked, level) == served


def test_the_model_list_is_unchanged():
    names = [entry["name"] for entry in catalog_of(*LISTED).models()]
    assert names == [f"models/{model}" for model in sorted(LISTED)]


def test_gemini_cli_defaults_serve_and_the_log_names_the_id_sent(gateway, upstream):
    account_id = add_account(gateway, upstream, "alice@example.com", models=LISTED)
    gateway.store.update(account_id, models={model: {} for model in LISTED})
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 1000}},  # a quarter of the cap or less: LOW
    }
    for asked, sent in [("gemini-3.1-pro-preview", "gemini-3.1-pro-low"), ("gemini-3.8-flash", "gemini-3.8-flash-low")]:
        headers = {"X-Request-Id": f"public-{asked}"}
        answer = gateway.post(f"/v1beta/models/{asked}:generateContent", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert upstream.calls_to("streamGenerateContent")[-1].body["model"] == sent
        assert request_lines(gateway, f"public-{asked}")[0]["model"] == sent
    missing = gateway.post("/v1beta/models/gemini-3.9-flash:generateContent", json=body)
    assert missing.status_code == 404
