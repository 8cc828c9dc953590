"""The model catalog: what the accounts report they serve (or a built-in list), and the aliases onto it."""

from __future__ import annotations

import re

from .accounts.store import Account
from .routing import NO_ALIASES, NO_FALLBACKS, Aliases, Fallbacks
from .upstream.translate.suffixes import bare_model

METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
# Google's public ids carry a release stage Cloud Code leaves out (`gemini-3.1-pro-preview`, `-preview-05-20`,
# `-latest`), and Cloud Code's ids carry a thinking tier (`gemini-3.8-flash-high`): v1internal-rules.md §6.
PUBLIC_SUFFIX = re.compile(r"-(?:preview(?:-[0-9][0-9-]*)?|latest)$")
TIERS = ("minimal", "low", "medium", "high", "xhigh")  # least to most thinking
# What an account without a model list (fetchAvailableModels not read yet) is taken to serve; also the
# published limits per model when upstream does not report them.
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


def alias_entry(alias: str, target: str, info: dict) -> dict:
    """The `Model` resource of an alias: the target's, under the alias's name, its displayName the target."""
    entry = model_entry(target, info)
    entry.update(name=f"models/{alias}", displayName=target, description=f"An alias of {target}.")
    return entry


class Catalog:
    """What the enabled accounts serve, plus aliases; rebuilt only when the account list it came from changes.

    An account with a model list (fetchAvailableModels) serves what it lists; one without serves any model
    of the built-in list. /models shows the built-in list only while no enabled account has a model list.
    """

    def __init__(self, aliases: Aliases = NO_ALIASES, fallbacks: Fallbacks = NO_FALLBACKS) -> None:
        self.aliases = aliases
        self._fallbacks = fallbacks
        self._source: tuple[Account, ...] | None = None
        self._served: dict[str, dict] = {}  # every id a request may go to, with what the accounts report of it
        self._deprecated: dict[str, str] = {}  # ids Google renamed (deprecatedModelIds) -> the new ids
        self._entries: dict[str, dict] = {}  # what /models lists, by id

    def refresh(self, accounts: tuple[Account, ...]) -> None:
        if accounts is self._source:
            return
        enabled = [account for account in accounts if account.enabled]
        reported: dict[str, dict] = {}
        deprecated: dict[str, str] = {}
        for account in enabled:
            for model_id, info in account.models.items():
                if "aliasOf" in info:
                    deprecated[model_id] = info["aliasOf"]
                else:
                    reported.setdefault(model_id, info)
        served = dict(reported)
        if not enabled or any(not account.models for account in enabled):
            served.update({model_id: reported.get(model_id, {}) for model_id in BUILTIN})
        listed = reported or served  # the built-in list only while no account has a model list
        self._served, self._deprecated, self._source = served, deprecated, accounts
        entries = {}
        for model_id in sorted(listed, key=lambda i: (not i.startswith("gemini"), i)):  # Gemini first
            if (entry := self._entry(model_id)) is not None:
                entries[model_id] = entry
        for alias in self.aliases.exact():
            if (entry := self._entry(alias)) is not None:
                entries[alias] = entry
        self._entries = entries

    def _entry(self, model_id: str) -> dict | None:
        target = self.serve(model_id)
        if target is None:
            return None
        info = self._served[bare_model(target)]
        if target == model_id:
            return model_entry(model_id, info)
        return alias_entry(model_id, target, info)

    def models(self) -> list[dict]:
        return list(self._entries.values())

    def get(self, model_id: str) -> dict | None:
        """One `Model`: a listed one, or any id a request may use (pattern aliases, renamed ids)."""
        return self._entries.get(model_id) or self._entry(model_id)

    def resolve(self, model_id: str, level: str | None = None) -> str | None:
        """The id a client's model id is served as (aliases applied), or None if no account serves it."""
        return self._known(self.aliases.resolve(model_id), level)

    def serve(self, model_id: str, level: str | None = None) -> str | None:
        """The id a request for `model_id` goes upstream as, or None. Settings written as suffixes (`-online`,
        `-16x9-4k` on image models), by the client or in an alias's target, ride on the resolved id for
        translation to read and strip: the catalog knows bare ids only. `level`: the thinking level the request
        asks for, which picks the tier of a tiered id."""
        target = self.resolve(model_id, level)
        if target is not None:
            return target
        bare = bare_model(model_id)
        if bare != model_id and (resolved := self.resolve(bare, level)) is not None:
            return resolved + model_id[len(bare) :]
        alias = self.aliases.resolve(model_id)
        bare = bare_model(alias)
        if bare != alias and (resolved := self._known(bare, level)) is not None:
            return resolved + alias[len(bare) :]
        return None

    def _known(self, model_id: str, level: str | None = None) -> str | None:
        """A served id, the new id of a renamed one, or what a public id stands for; no alias applied."""
        target = model_id if model_id in self._served else self._deprecated.get(model_id)
        return target if target in self._served else self._public(model_id, level)

    def _public(self, model_id: str, level: str | None) -> str | None:
        """A public id as the accounts list it: without its release stage, then as `<id>-<tier>`, the tier the
        request's thinking level names, else `-high`, else the highest listed (DESIGN.md, third round)."""
        stage = PUBLIC_SUFFIX.sub("", model_id)
        if stage != model_id and stage in self._served:
            return stage
        listed = [tier for tier in TIERS if f"{stage}-{tier}" in self._served]
        if not listed:
            return None
        wanted = (level or "").lower()
        return f"{stage}-{wanted if wanted in listed else 'high' if 'high' in listed else listed[-1]}"

    def fallbacks(self, model_id: str) -> tuple[str, ...]:
        """The models (GATEWAY_MODEL_FALLBACKS) that may serve a request for `model_id` instead, in order."""
        return tuple(model for model in self._fallbacks.after(model_id) if model in self._served)
