"""A multipart/related upload body (Google's `multipart` upload protocol), read a piece at a time: the metadata
part whole, the media streamed out to wherever the caller writes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import BinaryIO

from ..api.body import let_streams_run
from ..errors import GatewayError
from .store import UPLOAD_PIECE

MAX_METADATA = 64 * 1024  # a multipart body's JSON part, and any part's headers


def invalid(message: str) -> GatewayError:
    return GatewayError(400, message)


class Reader:
    """A multipart/related body read a piece at a time: small parts whole, the media streamed out.

    Lines may end in CRLF (RFC 2046) or LF (what googleapiclient's email generator writes): a delimiter is
    searched as LF `--boundary`, the CR before it dropped.
    """

    def __init__(self, source: BinaryIO, length: int | None, boundary: bytes) -> None:
        self.source, self.remaining = source, length
        self.delimiter = b"\n--" + boundary
        self.buffer = bytearray(b"\n")  # the body's first delimiter has no line before it

    def metadata(self) -> dict:
        """The first part, the file's metadata: the `file` of `{"file": …}`. The preamble before it is skipped."""
        self._until(self.delimiter, MAX_METADATA)
        self._line()
        self.headers()
        body = self._until(self.delimiter, MAX_METADATA).removesuffix(b"\r")
        self._after_delimiter(closing=False)
        try:
            metadata = json.loads(body) if body.strip() else {}
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise invalid("The multipart upload's first part must be the file's metadata, a JSON object.")
        return file_member(metadata)

    def headers(self) -> dict[str, str]:
        headers = {}
        while line := self._line().strip():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def media(self, write: Callable[[bytes | bytearray], None]) -> None:
        keep = len(self.delimiter)  # one byte more than a delimiter cut at a piece's end: its CR too
        while (at := self.buffer.find(self.delimiter)) < 0:
            if len(self.buffer) > keep:
                write(self.buffer[:-keep])
                del self.buffer[:-keep]
            if not self._fill():
                raise invalid("The multipart upload ends before its closing boundary.")
            let_streams_run()
        end = at - 1 if at and self.buffer[at - 1] == 0x0D else at
        write(self.buffer[:end])
        del self.buffer[: at + len(self.delimiter)]
        self._after_delimiter(closing=True)

    def _after_delimiter(self, closing: bool) -> None:
        rest = self._line().strip()
        if (rest == b"--") != closing:
            expected = "a closing boundary" if closing else "another part"
            raise invalid(f"The multipart upload has the wrong number of parts: expected {expected}.")

    def _line(self) -> bytes:
        return self._until(b"\n", MAX_METADATA, or_end=True)

    def _until(self, marker: bytes, limit: int, or_end: bool = False) -> bytes:
        """What comes before `marker` (or, `or_end`, before the body's end), taken off the buffer."""
        while (at := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise invalid("The multipart upload is malformed (a part or its headers do not end).")
            if not self._fill():
                if or_end:
                    found = bytes(self.buffer)
                    self.buffer.clear()
                    return found
                raise invalid("The multipart upload is malformed (a part or its headers do not end).")
        found = bytes(self.buffer[:at])
        del self.buffer[: at + len(marker)]
        return found

    def _fill(self) -> bool:
        size = UPLOAD_PIECE if self.remaining is None else min(UPLOAD_PIECE, self.remaining)
        piece = self.source.read(size) if size else b""
        if self.remaining is not None:
            self.remaining -= len(piece)
        self.buffer += piece
        return bool(piece)


def boundary(content_type: str) -> bytes:
    kind, _, parameters = content_type.partition(";")
    if kind.strip().lower() != "multipart/related":
        raise invalid("A multipart upload's Content-Type must be multipart/related with a boundary.")
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            return value.strip('"').encode("latin-1")
    raise invalid("A multipart upload's Content-Type must be multipart/related with a boundary.")


def file_member(body: dict) -> dict:
    """The `file` object of a create request (Google's `CreateFileRequest`), or {}."""
    file = body.get("file")
    return file if isinstance(file, dict) else {}
