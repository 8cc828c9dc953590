"""The model catalog: what the accounts report they serve, completed by a built-in list."""

from __future__ import annotations

from collections.abc import Iterable

from .accounts.store import Account

METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
# Served alongside what the accounts report (fetchAvailableModels), so a pool that has not fetched its
# models yet, or a model upstream forgot to list, still works. Limits are the published ones per family.
BUILTIN = {
    "gemini-2.0-flash": ("Gemini 2.0 Flash", 1048576, 8192, False),
    "gemini-2.0-flash-lite": ("Gemini 2.0 Flash-Lite", 1048576, 8192, False),
    "gemini-2.0-flash-exp": ("Gemini 2.0 Flash Experimental", 1048576, 8192, False),
    "gemini-2.5-flash": ("Gemini 2.5 Flash", 1048576, 65536, True),
    "gemini-2.5-flash-lite": ("Gemini 2.5 Flash-Lite", 1048576, 65536, True),
    "gemini-2.5-flash-thinking": ("Gemini 2.5 Flash (thinking)", 1048576, 65536, True),
    "gemini-2.5-flash-image": ("Gemini 2.5 Flash Image", 65536, 32768, False),
    "gemini-2.5-pro": ("Gemini 2.5 Pro", 1048576, 65536, True),
    "gemini-3-flash": ("Gemini 3 Flash", 1048576, 65536, True),
    "gemini-3-flash-preview": ("Gemini 3 Flash Preview", 1048576, 65536, True),
    "gemini-3-pro-high": ("Gemini 3 Pro (high)", 1048576, 65536, True),
    "gemini-3-pro-low": ("Gemini 3 Pro (low)", 1048576, 65536, True),
    "gemini-3-pro-preview": ("Gemini 3 Pro Preview", 1048576, 65536, True),
    "gemini-3-pro-image": ("Gemini 3 Pro Image", 65536, 32768, True),
    "gemini-3-pro-image-preview": ("Gemini 3 Pro Image Preview", 65536, 32768, True),
    "gemini-3.1-pro-high": ("Gemini 3.1 Pro (high)", 1048576, 65536, True),
    "gemini-3.1-pro-low": ("Gemini 3.1 Pro (low)", 1048576, 65536, True),
    "gemini-3.1-pro-preview": ("Gemini 3.1 Pro Preview", 1048576, 65536, True),
    "gemini-3.1-flash-image": ("Gemini 3.1 Flash Image", 65536, 32768, True),
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", 200000, 64000, False),
    "claude-sonnet-4-6-thinking": ("Claude Sonnet 4.6 (thinking)", 200000, 64000, True),
    "claude-opus-4-6-thinking": ("Claude Opus 4.6 (thinking)", 200000, 64000, True),
}


def model_entry(model_id: str, info: dict) -> dict:
    """A Gemini API `Model` resource."""
    name, input_limit, output_limit, thinking = BUILTIN.get(model_id, (model_id, None, None, None))
    entry = {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": info.get("displayName") or name,
        "description": info.get("displayName") or name,
        "inputTokenLimit": info.get("inputTokenLimit") or input_limit or 1048576,
        "outputTokenLimit": info.get("outputTokenLimit") or output_limit or 65536,
        "supportedGenerationMethods": list(METHODS),
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
    }
    if info.get("thinking", thinking) is not None:
        entry["thinking"] = bool(info.get("thinking", thinking))
    return entry


class Catalog:
    """Models and aliases, rebuilt only when the account list it came from changes."""

    def __init__(self) -> None:
        self._source: tuple[Account, ...] | None = None
        self._models: dict[str, dict] = {}
        self._aliases: dict[str, str] = {}

    def refresh(self, accounts: tuple[Account, ...]) -> None:
        if accounts is self._source:
            return
        reported: dict[str, dict] = {}
        aliases: dict[str, str] = {}
        for account in _usable(accounts):
            for model_id, info in account.models.items():
                if "aliasOf" in info:
                    aliases[model_id] = info["aliasOf"]
                else:
                    reported.setdefault(model_id, info)
        ids = sorted(set(BUILTIN) | set(reported), key=lambda i: (not i.startswith("gemini"), i))  # Gemini first
        self._models = {model_id: model_entry(model_id, reported.get(model_id, {})) for model_id in ids}
        self._aliases, self._source = aliases, accounts

    def models(self) -> list[dict]:
        return list(self._models.values())

    def get(self, model_id: str) -> dict | None:
        return self._models.get(model_id)

    def resolve(self, model_id: str) -> str | None:
        """The id to send upstream for a client's model id, or None if nobody serves it."""
        if model_id in self._models:
            return model_id
        target = self._aliases.get(model_id)
        return target if target in self._models else None


def _usable(accounts: Iterable[Account]) -> Iterable[Account]:
    return (account for account in accounts if account.enabled)
