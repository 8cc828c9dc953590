"""Upstream SSE in, Gemini streams out: plain functions over lines and events, easy to feed a list."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from ..codec import dumps_line, loads
from .envelope import unwrap

log = logging.getLogger(__name__)
READ_SIZE = 65536


def iter_lines(raw) -> Iterator[bytes]:
    """Lines of a urllib3 response as soon as they arrive (read1 never waits to fill a buffer)."""
    pending = bytearray()  # grows in place: a multi-MB event is neither re-joined nor re-split per chunk
    for chunk in iter(lambda: raw.read1(READ_SIZE), b""):
        start = len(pending)  # what came before holds no newline: search only the new chunk
        pending += chunk
        first = pending.find(b"\n", start)
        if first < 0:
            continue
        with memoryview(pending) as view:  # bytes of a slice of the buffer would copy a multi-MB event twice
            line = bytes(view[:first])
        yield line
        *lines, rest = pending[first + 1 :].split(b"\n")
        yield from map(bytes, lines)
        pending = rest
    if pending:
        yield bytes(pending)


def parse_events(lines: Iterable[bytes]) -> Iterator[dict]:
    """Unwrapped JSON events of an SSE stream, read the way gemini-cli does, but tolerant.

    `data:` with or without the space; lines of one event joined until a blank line; comments, `event:`,
    `id:` and `[DONE]` ignored; a pending event flushed at EOF; malformed events skipped and logged.
    """
    buffer: list[memoryview] = []
    for line in lines:
        end = len(line) - 1 if line.endswith(b"\r") else len(line)  # the line without its CR, never copied
        if line.startswith(b"data:"):
            data = memoryview(line)[5:end]  # a view: no copy of a multi-MB event (JSON allows the space)
            if not (len(data) <= 32 and bytes(data).strip() == b"[DONE]"):
                buffer.append(data)
        elif end == 0 and buffer:  # a blank line ends the event
            yield from _decode(buffer)
            buffer = []
    if buffer:
        yield from _decode(buffer)


def _decode(buffer: list[memoryview]) -> Iterator[dict]:
    try:
        payload = loads(buffer[0] if len(buffer) == 1 else b"\n".join(buffer))
    except ValueError:
        log.warning("skipped a malformed upstream event (%d bytes)", sum(map(len, buffer)))
        return
    if isinstance(payload, list):  # errors on stream endpoints arrive wrapped in an array
        payload = payload[0] if payload else {}
    if isinstance(payload, dict):
        yield unwrap(payload)


def has_content(event: dict) -> bool:
    """Whether an event carries an answer: a candidate with parts or a finish, or a blocked prompt."""
    if (event.get("promptFeedback") or {}).get("blockReason"):
        return True
    return any(
        (candidate.get("content") or {}).get("parts") or candidate.get("finishReason") not in (None, "STOP")
        for candidate in event.get("candidates") or ()
    )


def sse_frames(events: Iterable[dict]) -> Iterator[bytes]:
    """Each event as `data: <one-line JSON>\\n\\n`; nothing else, ever (google-genai rejects the rest)."""
    for event in events:
        yield b"".join((b"data: ", dumps_line(event), b"\n\n"))  # one copy of the event, not two


def json_array(events: Iterable[dict]) -> Iterator[bytes]:
    """google-generativeai's stream: `[` first byte, `,` between objects, `]` last byte, no whitespace.

    Candidate-less events (usage only) break its `.text`, so their usage rides on the next event.
    """
    separator = b"["
    usage = None
    for event in events:
        if "error" not in event and not event.get("candidates") and not event.get("promptFeedback"):
            usage = event.get("usageMetadata") or usage
            continue
        if usage and "usageMetadata" not in event and "error" not in event:
            event = {**event, "usageMetadata": usage}
        usage = None
        yield separator + dumps_line(event)
        separator = b","
    yield b"]" if separator == b"," else b"[]"


def collect(events: Iterable[dict]) -> dict:
    """One GenerateContentResponse assembled from a stream: every candidate, field and signature kept."""
    result: dict = {}
    candidates: dict[int, dict] = {}
    for event in events:
        for key, value in event.items():
            if key == "candidates":
                for position, candidate in enumerate(value):
                    index = candidate.get("index", position)
                    _merge_candidate(candidates.setdefault(index, {}), candidate)
            elif key in ("responseId", "modelVersion", "createTime"):
                result.setdefault(key, value)
            else:  # usageMetadata, promptFeedback, ...: the latest is the complete one
                result[key] = value
    if candidates:
        result["candidates"] = [candidates[index] for index in sorted(candidates)]
    return result


def _merge_candidate(into: dict, piece: dict) -> None:
    for key, value in piece.items():
        if key == "content":
            content = into.setdefault("content", {"parts": [], "role": value.get("role", "model")})
            for part in value.get("parts") or ():
                _append_part(content["parts"], part)
        elif key == "citationMetadata":
            sources = into.setdefault(key, {"citationSources": []})["citationSources"]
            sources.extend(value.get("citationSources") or ())
        else:
            into[key] = value


def _append_part(parts: list[dict], part: dict) -> None:
    """Join streamed text into one part per run; a signature joins too, on the run it closes."""
    last = parts[-1] if parts else None
    mergeable = (
        last is not None
        and "text" in part
        and "text" in last
        and set(part) <= {"text", "thought", "thoughtSignature"}
        and set(last) <= {"text", "thought", "thoughtSignature"}
        and bool(part.get("thought")) == bool(last.get("thought"))
        and not (part.get("thoughtSignature") and last.get("thoughtSignature"))
    )
    if mergeable:
        last["text"] += part["text"]
        if part.get("thoughtSignature"):
            last["thoughtSignature"] = part["thoughtSignature"]
    else:
        parts.append(dict(part))
