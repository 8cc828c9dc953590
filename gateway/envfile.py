"""Read a systemd EnvironmentFile the way systemd does, so the CLI sees exactly what the service sees.

The rules are systemd.exec(5)'s (EnvironmentFile=), the states those of systemd's src/basic/env-file.c:
KEY=VALUE lines; lines starting with # or ; are comments, lines without = are ignored; whitespace around a
key and an unquoted value is dropped; a backslash keeps the next character, and one at the end of a line
joins the next; single quotes keep everything verbatim, double quotes know the escapes for " \\ ` and $;
quoted values may span lines. Names that are not variable names (`export X=1`) are skipped, as systemd
skips them.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NEWLINE = "\n\r"
WHITESPACE = " \t\n\r"
DOUBLE_QUOTE_ESCAPES = '"\\`$'


class EnvFileError(ValueError):
    """The environment file cannot be read."""


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a systemd EnvironmentFile assigns (a later assignment wins)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise EnvFileError(f"cannot read the environment file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"the environment file {path} is not UTF-8") from None
    return {name: value for name, value in parse_env(text) if NAME.match(name)}


def parse_env(text: str) -> list[tuple[str, str]]:
    """Every `name=value` assignment in the text, in order, names unchecked."""
    assignments: list[tuple[str, str]] = []
    state, key, value = "pre_key", [], []
    trim = None  # where the unquoted value's trailing whitespace starts, if it has some

    def assign() -> None:
        assignments.append(("".join(key).rstrip(WHITESPACE), "".join(value[:trim] if trim is not None else value)))

    for char in text:
        if state == "pre_key":
            if char in "#;":
                state = "comment"
            elif char not in WHITESPACE:
                state, key, value, trim = "key", [char], [], None
        elif state == "key":
            if char in NEWLINE:
                state = "pre_key"  # no "=": not an assignment
            elif char == "=":
                state = "pre_value"
            else:
                key.append(char)
        elif state in ("pre_value", "value"):
            if char in NEWLINE:
                assign()
                state = "pre_key"
            elif char == "\\":
                state, trim = "value_escape", None
            elif state == "pre_value" and char in "'\"":
                state = "single_quote" if char == "'" else "double_quote"
            elif state == "value" or char not in WHITESPACE:
                if char not in WHITESPACE:
                    trim = None
                elif trim is None:
                    trim = len(value)
                state = "value"
                value.append(char)
        elif state == "value_escape":
            state = "value"
            if char not in NEWLINE:  # a backslash before the newline joins the next line
                value.append(char)
        elif state == "single_quote":
            if char == "'":
                state, trim = "pre_value", None
            else:
                value.append(char)
        elif state == "double_quote":
            if char == '"':
                state, trim = "pre_value", None
            elif char == "\\":
                state = "double_quote_escape"
            else:
                value.append(char)
        elif state == "double_quote_escape":
            state = "double_quote"
            if char in DOUBLE_QUOTE_ESCAPES:
                value.append(char)
            elif char != "\n":
                value.extend(("\\", char))
        elif state == "comment":
            if char == "\\":
                state = "comment_escape"
            elif char in NEWLINE:
                state = "pre_key"
        else:  # comment_escape: since systemd 254 a backslash no longer carries a comment onto the next line
            state = "pre_key" if char in NEWLINE else "comment"
    if state not in ("pre_key", "key", "comment", "comment_escape"):
        assign()
    return assignments
