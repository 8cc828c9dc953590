"""Google's upload protocols, as google-genai (`_api_client.py` `_upload_fd`) and @google/genai
(`_cross_uploader.ts` / `_node_uploader.ts`) speak them.

Resumable: `start` announces the file (X-Goog-Upload-Header-Content-Length / -Content-Type, a `{"file": …}`
body) and gets an upload URL; then 8 MiB chunks, each `upload` at its X-Goog-Upload-Offset, the last one
`upload, finalize` (a small file is a single `upload, finalize`). Multipart: one body, `multipart/related`, a JSON
part then the media. Bytes go to disk a piece at a time, hashed on the way: a 20 MiB upload never sits in memory.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import secrets
from typing import BinaryIO

from ..api.body import PIECE, let_streams_run
from ..errors import GatewayError
from .multipart import Reader, boundary, invalid
from .store import FILE_ID, UPLOAD_PIECE, FileStore, StoredFile, Upload

BUSY = "ABORTED"  # Google's status for a conflict that a retry may resolve: the upload itself is left alone
COMMANDS = frozenset({("upload",), ("upload", "finalize"), ("finalize",), ("query",), ("cancel",)})
MAX_DISPLAY_NAME = 512  # Google's limit on File.displayName


class Uploads:
    """The upload protocols over one FileStore, with `max_bytes` (GATEWAY_FILES_MAX_BYTES) per file."""

    def __init__(self, store: FileStore, max_bytes: int) -> None:
        self.store, self.max_bytes = store, max_bytes
        # Each upload's SHA-256 so far, with the offset it reached, for chunks this worker received in order.
        # A chunk that went to another worker (or host) leaves a gap: that upload is hashed again at finalize.
        self._hashes: dict[str, tuple[int, hashlib._Hash]] = {}

    def start(self, owner: str, metadata: dict, size_header: str | None, type_header: str | None) -> Upload:
        """A resumable upload's `start`: the file announced, checked against the limit, given an upload id."""
        size = _size(size_header)
        if size is not None:
            self._check_size(size)
        return self._open(owner, metadata, type_header, size)

    def step(self, upload: Upload, command: str, offset: str | None, source: BinaryIO, length: int | None):
        """One step after `start`: the file once finalized, else the bytes received so far."""
        commands = tuple(word.strip().lower() for word in command.split(",") if word.strip())
        if commands not in COMMANDS:
            raise invalid(f"Unknown X-Goog-Upload-Command {command!r}: send upload, finalize, query or cancel.")
        if commands == ("cancel",):
            self.forget(upload.id)
            return None
        if "upload" in commands:
            self._append(upload, offset, source, length)
        if "finalize" in commands:
            return self._finalize(upload)
        upload.touched = self.store.clock()
        self.store.save(upload)
        return self.received(upload)

    def multipart(self, owner: str, content_type: str, source: BinaryIO, length: int | None) -> StoredFile:
        """A multipart upload (`multipart/related`: the `{"file": …}` JSON, then the media), in one request."""
        reader = Reader(source, length, boundary(content_type))
        metadata = reader.metadata()
        media_type = reader.headers().get("content-type")
        upload = self._open(owner, metadata, media_type, None)
        try:
            with self.store.part_path(upload.id).open("ab") as out:
                sink = self._sink(upload, out, 0)
                reader.media(sink.write)
            self._remember(upload.id, sink)
            return self._finalize(upload)
        except BaseException:
            self.forget(upload.id)
            raise

    def received(self, upload: Upload) -> int:
        return self.store.part_path(upload.id).stat().st_size

    def forget(self, upload_id: str) -> None:
        """Drop an upload and what it received (after a refused step: no half-written file stays)."""
        self._hashes.pop(upload_id, None)
        self.store.discard(upload_id)

    def prune(self) -> None:
        """Forget the hashes of uploads that ended elsewhere (another worker finalized or the sweep removed them)."""
        for upload_id in list(self._hashes):
            if self.store.upload(upload_id) is None:
                self._hashes.pop(upload_id, None)

    def _open(self, owner: str, metadata: dict, mime_type: str | None, size: int | None) -> Upload:
        """A new upload on disk, what the client announced checked; its id is 192 random bits."""
        upload = Upload(
            id=secrets.token_urlsafe(24),
            owner=owner,
            file_id=self._requested_id(metadata),
            display_name=_display_name(metadata),
            mime_type=_mime_type(mime_type or _member(metadata, "mimeType")),
            size=size,
            touched=self.store.clock(),
        )
        self.store.start(upload)
        return upload

    # ---- the steps ----

    def _append(self, upload: Upload, offset: str | None, source: BinaryIO, length: int | None) -> None:
        with self.store.part_path(upload.id).open("ab") as out:
            try:  # two chunks of one upload at once (a client retrying while the first still runs): refuse the second
                fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise GatewayError(409, "Another chunk of this upload is being received.", BUSY) from None
            received = out.seek(0, 2)
            if offset is None or not offset.isdigit() or int(offset) != received:
                raise invalid(f"X-Goog-Upload-Offset is {offset!r}, but the upload has received {received} bytes.")
            sink = self._sink(upload, out, received)
            remaining = length
            while remaining is None or remaining > 0:
                piece = source.read(UPLOAD_PIECE if remaining is None else min(UPLOAD_PIECE, remaining))
                if not piece:
                    break
                sink.write(piece)
                if remaining is not None:
                    remaining -= len(piece)
                let_streams_run()
            if remaining:
                raise invalid(f"The chunk ended {remaining} bytes before its Content-Length.")
            self._remember(upload.id, sink)

    def _sink(self, upload: Upload, out: BinaryIO, received: int) -> _Sink:
        hashed = self._hashes.pop(upload.id, None)
        hashing = hashed[1] if hashed is not None and hashed[0] == received else None
        if received == 0:
            hashing = hashlib.sha256()
        return _Sink(out, hashing, received, upload.size, self.max_bytes)

    def _remember(self, upload_id: str, sink: _Sink) -> None:
        if sink.hashing is not None:
            self._hashes[upload_id] = (sink.received, sink.hashing)

    def _finalize(self, upload: Upload) -> StoredFile:
        part = self.store.part_path(upload.id)
        size = part.stat().st_size
        if upload.size is not None and size != upload.size:
            raise invalid(
                f"The upload is incomplete: {size} of the {upload.size} bytes announced were received before finalize."
            )
        file_id = upload.file_id or self.store.new_id()
        if self.store.taken(file_id):
            raise GatewayError(409, f"File files/{file_id} already exists.", "ALREADY_EXISTS")
        stored = StoredFile(
            id=file_id,
            display_name=upload.display_name,
            mime_type=upload.mime_type,
            size=size,
            sha256=base64.b64encode(self._digest(upload.id, size)).decode(),
            created=self.store.clock(),
            owner=upload.owner,
        )
        self.store.publish(part, stored)
        self.forget(upload.id)
        return stored

    def _digest(self, upload_id: str, size: int) -> bytes:
        hashed = self._hashes.pop(upload_id, None)
        if hashed is not None and hashed[0] == size:
            return hashed[1].digest()
        hashing = hashlib.sha256()  # some chunks reached another worker: read what is on disk, once
        with self.store.part_path(upload_id).open("rb") as part:
            while piece := part.read(PIECE):
                hashing.update(piece)
                let_streams_run()
        return hashing.digest()

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise invalid(too_large(self.max_bytes))

    def _requested_id(self, metadata: dict) -> str:
        """The id a client asked for (`name`, as `files/<id>` or bare), checked; "" for one of ours."""
        name = str(_member(metadata, "name") or "").removeprefix("files/")
        if not name:
            return ""
        if not FILE_ID.fullmatch(name):
            raise invalid(
                f"Invalid file name files/{name}: up to 40 lowercase letters, digits and dashes (not at either end)."
            )
        if self.store.taken(name):
            raise GatewayError(409, f"File files/{name} already exists.", "ALREADY_EXISTS")
        return name


def too_large(limit: int) -> str:
    return f"The file is larger than this gateway's limit of {limit} bytes (GATEWAY_FILES_MAX_BYTES)."


class _Sink:
    """Where an upload's bytes go: its part file and its hash, refused past what was announced or allowed."""

    def __init__(self, out: BinaryIO, hashing, received: int, announced: int | None, limit: int) -> None:
        self.out, self.hashing, self.received, self.announced, self.limit = out, hashing, received, announced, limit

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.received += len(data)
        if self.announced is not None and self.received > self.announced:
            raise invalid(
                f"The upload sent more than the {self.announced} bytes its X-Goog-Upload-Header-Content-Length "
                "announced."
            )
        if self.received > self.limit:
            raise invalid(too_large(self.limit))
        self.out.write(data)
        if self.hashing is not None:
            self.hashing.update(data)


def _member(metadata: dict, camel: str) -> object:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return metadata.get(camel, metadata.get(snake))


def _size(header: str | None) -> int | None:
    if header is None or header.strip() == "":
        return None
    if not header.strip().isdigit():
        raise invalid(f"X-Goog-Upload-Header-Content-Length must be a number of bytes, not {header!r}.")
    return int(header)


def _display_name(metadata: dict) -> str:
    name = str(_member(metadata, "displayName") or "")
    if len(name) > MAX_DISPLAY_NAME:
        raise invalid(f"displayName is longer than {MAX_DISPLAY_NAME} characters.")
    return name


def _mime_type(value: object) -> str:
    mime = str(value or "").strip()
    if "/" not in mime:
        raise invalid(
            "The upload has no mime type: send X-Goog-Upload-Header-Content-Type (or the media part's Content-Type)."
        )
    return mime
