"""Model routing settings: aliases (GATEWAY_MODEL_ALIASES) and fallback chains (GATEWAY_MODEL_FALLBACKS).

Both are parsed and checked once at start (a malformed pair or a cycle is a ValueError naming it) and
compiled into tables: resolving an exact id is one dictionary lookup; `*` patterns are tried only on a miss,
most specific first, and what they decide is remembered.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import GatewayError

MODEL_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
PATTERN = re.compile(r"[A-Za-z0-9._*-]{1,128}")


def _model_id(text: str, what: str, pattern: bool = False) -> str:
    text = text.strip().removeprefix("models/")
    if not (PATTERN if pattern else MODEL_ID).fullmatch(text):
        allowed = "letters, digits, '.', '-', '_'" + (" and '*'" if pattern else "")
        raise ValueError(f"{what} {text!r} is not a model id ({allowed})")
    return text


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True)
class Aliases:
    """`from=to` pairs; an exact `from` wins, then the pattern with the most non-`*` characters."""

    pairs: tuple[tuple[str, str], ...] = ()
    _exact: dict[str, str] = field(init=False, compare=False, repr=False)
    _patterns: tuple[tuple[re.Pattern, str], ...] = field(init=False, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Aliases:
        pairs = []
        for item in _items(text):
            source, equals, target = item.partition("=")
            if not equals or "=" in target:
                raise ValueError(f"{item!r} is not a from=to pair")
            pairs.append((_model_id(source, "alias", pattern=True), _model_id(target, "alias target")))
        return cls(tuple(pairs))

    def __post_init__(self) -> None:
        given: dict[str, str] = {}
        for source, target in self.pairs:
            if given.setdefault(source, target) != target:
                raise ValueError(f"{source} is given two targets, {given[source]} and {target}")
        exact = {source: target for source, target in given.items() if "*" not in source}
        patterns = [(source, target) for source, target in given.items() if "*" in source]
        patterns.sort(key=lambda pair: -len(pair[0].replace("*", "")))  # stable: equally specific, first wins
        object.__setattr__(self, "_exact", {source: _follow(source, exact) for source in exact})
        compiled = tuple(
            (re.compile(".*".join(map(re.escape, source.split("*")))), self._final(target))
            for source, target in patterns
        )
        object.__setattr__(self, "_patterns", compiled)

    def _final(self, model: str) -> str:
        return self._exact.get(model, model)

    def resolve(self, model: str) -> str:
        """The id this alias table sends `model` to (`model` itself when no alias matches)."""
        target = self._exact.get(model)
        if target is not None:
            return target
        return _match(self._patterns, model) if self._patterns else model

    def exact(self) -> dict[str, str]:
        """The exact aliases, each with the id it finally resolves to (what /models lists)."""
        return dict(self._exact)


def _follow(source: str, exact: dict[str, str]) -> str:
    """An exact alias's final target, through other exact aliases; a loop is refused."""
    seen, model = [source], exact[source]
    while model in exact:
        if model in seen:
            raise ValueError(f"aliases form a cycle: {' -> '.join([*seen, model])}")
        seen.append(model)
        model = exact[model]
    return model


@functools.lru_cache(maxsize=4096)
def _match(patterns: tuple[tuple[re.Pattern, str], ...], model: str) -> str:
    return next((target for regex, target in patterns if regex.fullmatch(model)), model)


@dataclass(frozen=True)
class Fallbacks:
    """Chains `a>b>c`: each model's next one when no account can serve it now."""

    chains: tuple[tuple[str, ...], ...] = ()
    _after: dict[str, tuple[str, ...]] = field(init=False, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Fallbacks:
        chains = []
        for item in _items(text):
            models = tuple(_model_id(model, "fallback") for model in item.split(">"))
            if len(models) < 2:
                raise ValueError(f"{item!r} is not a chain like a>b or a>b>c")
            chains.append(models)
        return cls(tuple(chains))

    def __post_init__(self) -> None:
        following: dict[str, str] = {}
        for chain in self.chains:
            for model, then in itertools.pairwise(chain):
                if following.setdefault(model, then) != then:
                    raise ValueError(f"{model} is given two fallbacks, {following[model]} and {then}")
        object.__setattr__(self, "_after", {model: _chain(model, following) for model in following})

    def after(self, model: str) -> tuple[str, ...]:
        """The models that may serve instead of `model`, in order (empty: no fallback)."""
        return self._after.get(model, ())


def _chain(model: str, following: dict[str, str]) -> tuple[str, ...]:
    seen = [model]
    while seen[-1] in following:
        then = following[seen[-1]]
        if then in seen:
            raise ValueError(f"fallbacks form a cycle: {'>'.join([*seen, then])}")
        seen.append(then)
    return tuple(seen[1:])


@dataclass(frozen=True)
class Fallback:
    """A model that may serve a request instead of the one asked for, with the body translated for it."""

    name: str  # as GATEWAY_MODEL_FALLBACKS names it: what the log line and metrics show
    model: str  # what is sent upstream, after translation
    body: dict


NO_ALIASES = Aliases()
NO_FALLBACKS = Fallbacks()


def fallbacks_for(body: dict, names: tuple[str, ...], translate: Callable[[dict, str], str]) -> tuple[Fallback, ...]:
    """Each fallback with its own translated copy of `body` (call before `body` itself is translated).

    A fallback whose translation refuses the body (a rule of its model family) is left out: the request
    itself is valid, that model just cannot take it.
    """
    found: list[Fallback] = []
    for name in names:
        own = copy.deepcopy(body)  # strings are shared, not copied: cheap even with inline images
        try:
            found.append(Fallback(name, translate(own, name), own))
        except GatewayError:
            continue
    return tuple(found)


def distinct(model: str, fallbacks: tuple[Fallback, ...]) -> tuple[Fallback, ...]:
    """The fallbacks that send upstream something other than `model` (translation may strip a suffix), each
    upstream id once: the first one keeps it."""
    seen = {model}
    found = []
    for fallback in fallbacks:
        if fallback.model not in seen:
            seen.add(fallback.model)
            found.append(fallback)
    return tuple(found)
