"""`fileData` naming one of the gateway's files becomes `inlineData`: Cloud Code Assist cannot fetch a file, but
it takes the bytes inline (generate, stream and countTokens alike)."""

from __future__ import annotations

import re

from .access import no_access, readable
from .store import FileStore

# The file's `uri` (any host: behind nginx and direct it differs) or its bare name `files/<id>`
FILE_NAME = re.compile(r"(?:.*/)?files/([a-z0-9-]{1,40})")


def named_file(uri: object) -> str | None:
    """The file id a fileData URI names, if it names one of the Files API's files."""
    if not isinstance(uri, str):
        return None
    found = FILE_NAME.fullmatch(uri.partition("?")[0])
    return found[1] if found else None


def inline_files(store: FileStore, body: dict) -> int:
    """Replace, in place, every `fileData` part naming a file with its `inlineData`; the base64 bytes it makes.

    Each file is read once per request however often it is named; a file the caller may not use is a 403."""
    encoded: dict[str, dict] = {}
    written = 0
    for parts in _part_lists(body):
        for index, part in enumerate(parts):
            file_data = part.get("fileData", part.get("file_data")) if isinstance(part, dict) else None
            file_id = (
                named_file(file_data.get("fileUri", file_data.get("file_uri"))) if isinstance(file_data, dict) else None
            )
            if file_id is None:
                continue  # a URI of elsewhere (gs://, YouTube) goes upstream as the client sent it
            if file_id not in encoded:
                encoded[file_id] = _inline_data(store, file_id)
                written += len(encoded[file_id]["data"]) * 4 // 3  # as base64, when written
            rest = {key: value for key, value in part.items() if key not in ("fileData", "file_data")}
            parts[index] = {**rest, "inlineData": encoded[file_id]}
    return written


def _inline_data(store: FileStore, file_id: str) -> dict:
    """The file as an inlineData object whose `data` is its raw bytes: msgspec writes bytes as base64 when the
    body is written for Google, so no base64 str of the file is made beside that JSON (docs/performance.md,
    "Files API"). Read in one call: from the page cache, a few ms, and one copy instead of pieces joined."""
    stored = readable(store, file_id)
    try:
        data = store.data_path(file_id).read_bytes()
    except FileNotFoundError:  # deleted since it was looked up
        raise no_access(file_id) from None
    return {"mimeType": stored.mime_type, "data": data}


def _part_lists(body: dict):
    """Every list of parts a generate or countTokens body carries: its contents', its system instruction's,
    and those of countTokens' generateContentRequest."""
    requests = [body]
    nested = body.get("generateContentRequest", body.get("generate_content_request"))
    if isinstance(nested, dict):
        requests.append(nested)
    for request in requests:
        contents = request.get("contents")
        system = request.get("systemInstruction", request.get("system_instruction"))
        for content in [*(contents if isinstance(contents, list) else ()), system]:
            parts = content.get("parts") if isinstance(content, dict) else None
            if isinstance(parts, list):
                yield parts
