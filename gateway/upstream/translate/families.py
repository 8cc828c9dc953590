"""What each model family accepts, as data (families.toml): an operator's file first, then the built-in table.

Google changes what a family takes every few weeks; the table changes with it, the rules that read it do not.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")  # least to most thinking
THINKING = ("level", "budget", "both")
BUILT_IN_FILE = Path(__file__).with_name("families.toml")
_REMEMBERED = 1024  # model ids whose family is remembered: a client's made-up ids cannot grow it without end


class RulesError(ValueError):
    """A model rules file the gateway cannot use: the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Family:
    match: tuple[str, ...]  # globs on the model id sent upstream
    thinking: str = "both"
    levels: tuple[str, ...] = LEVELS
    budget: tuple[int, int] = (1, 24576)  # least positive budget, cap
    can_stop: bool = True
    drop: tuple[str, ...] = ()  # generationConfig fields (camelCase) removed before sending
    max_candidates: int | None = None
    output: int = 65536  # the family's output token limit

    @property
    def floor(self) -> int:
        return self.budget[0]

    @property
    def cap(self) -> int:
        return self.budget[1]

    def matches(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.match)

    def nearest(self, level: str) -> str:
        """The accepted level closest to `level` (one of LEVELS); a tie goes to more thinking."""
        wanted = LEVELS.index(level)
        return min(self.levels, key=lambda name: (abs(LEVELS.index(name) - wanted), -LEVELS.index(name)))


class Families:
    """The family table: the first family matching a model id wins; lookups are remembered per id."""

    def __init__(self, families: tuple[Family, ...]) -> None:
        self.families = families
        self._found: dict[str, Family] = {}

    def __call__(self, model: str) -> Family:
        family = self._found.get(model)
        if family is None:
            family = next((f for f in self.families if f.matches(model)), ANY)
            if len(self._found) >= _REMEMBERED:
                self._found.clear()
            self._found[model] = family
        return family

    def before(self, other: Families) -> Families:
        """This table's families first, then `other`'s."""
        return Families(self.families + other.families)

    @classmethod
    def load(cls, path: Path) -> Families:
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RulesError(f"{path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RulesError(f"{path}: not TOML: {exc}") from None
        unknown = sorted(set(table) - {"family"})
        if unknown:
            raise RulesError(f"{path}: {unknown[0]}: unknown key (the file holds [[family]] tables)")
        entries = table.get("family", [])
        if not isinstance(entries, list):
            raise RulesError(f"{path}: family: must be [[family]] tables")
        return cls(tuple(_family(entry, f"{path}: family[{n}]") for n, entry in enumerate(entries)))


def _family(entry: object, where: str) -> Family:
    if not isinstance(entry, dict):
        raise RulesError(f"{where}: must be a table")
    known = {f.name for f in fields(Family)}
    for key in entry:
        if key not in known:
            raise RulesError(f"{where}.{key}: unknown key (keys: {', '.join(sorted(known))})")
    if "match" not in entry:
        raise RulesError(f'{where}.match: missing (a glob on the model id, e.g. "gemini-9-*")')
    values = {key: _CHECKS[key](value, f"{where}.{key}") for key, value in entry.items()}
    family = Family(**values)
    if family.floor > family.cap:
        raise RulesError(f"{where}.budget: the least budget {family.floor} is above the cap {family.cap}")
    return family


def _globs(value: object, where: str) -> tuple[str, ...]:
    globs = (value,) if isinstance(value, str) else value
    if not isinstance(globs, list | tuple) or not globs or not all(isinstance(g, str) and g for g in globs):
        raise RulesError(f"{where}: must be a glob or a list of globs")
    return tuple(globs)


def _thinking(value: object, where: str) -> str:
    if value not in THINKING:
        raise RulesError(f"{where}: must be one of {', '.join(THINKING)}, not {value!r}")
    return value


def _levels(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(level in LEVELS for level in value):
        raise RulesError(f"{where}: must list levels from {' '.join(LEVELS)}")
    return tuple(sorted(set(value), key=LEVELS.index))


def _budget(value: object, where: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(is_count(n) and n > 0 for n in value)):
        raise RulesError(f"{where}: must be [least positive budget, cap]")
    return value[0], value[1]


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise RulesError(f"{where}: must be true or false")
    return value


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise RulesError(f"{where}: must list generationConfig field names")
    return tuple(value)


def _positive(value: object, where: str) -> int:
    if not (is_count(value) and value > 0):
        raise RulesError(f"{where}: must be a positive whole number")
    return value


def is_count(value: object) -> bool:
    """A whole number as JSON or TOML gives one (a bool is an int to Python, never a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKS = {
    "match": _globs,
    "thinking": _thinking,
    "levels": _levels,
    "budget": _budget,
    "can_stop": _flag,
    "drop": _names,
    "max_candidates": _positive,
    "output": _positive,
}
ANY = Family(("*",))  # what no table names: the most permissive reading
BUILT_IN = Families.load(BUILT_IN_FILE)
