"""Uploaded files on disk, shared by every worker (and every host mounting the same GATEWAY_FILES_DIR).

Layout: `<root>/<id>` holds a file's bytes and `<root>/<id>.json` what Google's `File` says of it; an upload under
way is `<root>/uploads/<upload id>.part` (the bytes so far) beside `<upload id>.json` (who started it, what it
announced). A file becomes visible only by its sidecar, written after its bytes were renamed into place: no
reader ever sees a half-written file. Everything that is compared across processes is on disk, never in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from ..clock import Clock

T = TypeVar("T")

FILE_LIFETIME = 48 * 3600  # Google deletes an uploaded file 48 hours after its upload
UPLOAD_LIFETIME = 3600  # an upload left unused this long is forgotten, its upload URL dead
# Google's file ids: lowercase letters and digits (a client may choose one, dashes allowed inside)
FILE_ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
# Bytes of an upload read from the socket and written to disk at a time. Smaller than api/body.py's PIECE: each
# read is copied about twice on its way (gunicorn's reader, the bytes handed over), and at 1 MiB a 20 MiB upload's
# peak memory varied from 3.4 to 7.9 MiB over nine runs on a busy machine; at 256 KiB, 2.3 to 4.9 over twelve.
UPLOAD_PIECE = 256 * 1024
UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24): 192 random bits
ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class StoredFile:
    """One uploaded file, as its sidecar records it."""

    id: str
    display_name: str
    mime_type: str
    size: int
    sha256: str  # base64 of the digest, as Google's File.sha256Hash
    created: float
    owner: str  # the team key that uploaded it ("" for the admin key, or with auth off)

    @property
    def expires(self) -> float:
        return self.created + FILE_LIFETIME


@dataclass
class Upload:
    """An upload under way: who started it and what it announced."""

    id: str
    owner: str
    file_id: str
    display_name: str
    mime_type: str
    size: int | None  # what X-Goog-Upload-Header-Content-Length announced (None: not announced)
    touched: float  # when a step last used it


class FileStore:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.root, self.clock = root, clock
        self.uploads = root / "uploads"

    # ---- files ----

    def data_path(self, file_id: str) -> Path:
        return self.root / file_id

    def sidecar_path(self, file_id: str) -> Path:
        return self.root / f"{file_id}.json"

    def get(self, file_id: str) -> StoredFile | None:
        """The file, unless it does not exist or expired (the sweep may not have come by yet)."""
        stored = _load(StoredFile, FILE_ID, file_id, self.sidecar_path)
        return stored if stored is not None and stored.expires > self.clock() else None

    def all(self) -> list[StoredFile]:
        """Every live file, newest first."""
        now = self.clock()
        return sorted((f for f in self._stored() if f.expires > now), key=lambda f: (-f.created, f.id))

    def publish(self, part: Path, stored: StoredFile) -> None:
        """Move an upload's bytes into place, then make the file visible by its sidecar."""
        os.replace(part, self.data_path(stored.id))
        _write_json(self.sidecar_path(stored.id), asdict(stored))

    def delete(self, file_id: str) -> None:
        """Sidecar first: the file is gone for every reader before its bytes are."""
        for path in (self.sidecar_path(file_id), self.data_path(file_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def new_id(self) -> str:
        """A free file id in Google's shape (16 of [a-z0-9]: 82 random bits)."""
        while True:
            candidate = "".join(secrets.choice(ID_ALPHABET) for _ in range(16))
            if not self.taken(candidate):
                return candidate

    def taken(self, file_id: str) -> bool:
        return self.sidecar_path(file_id).exists() or self.data_path(file_id).exists()

    def totals(self) -> tuple[int, int]:
        """(files stored, their bytes), for the console."""
        count = size = 0
        for sidecar in self._sidecars():
            with contextlib.suppress(FileNotFoundError):
                size += self.data_path(sidecar.stem).stat().st_size
                count += 1
        return count, size

    # ---- uploads ----

    def start(self, upload: Upload) -> None:
        self.uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.part_path(upload.id).touch(mode=0o600)
        self.save(upload)

    def upload(self, upload_id: str) -> Upload | None:
        """The upload this id names, unless unknown or left unused for an hour."""
        upload = _load(Upload, UPLOAD_ID, upload_id, self.record_path)
        return upload if upload is not None and upload.touched + UPLOAD_LIFETIME > self.clock() else None

    def save(self, upload: Upload) -> None:
        _write_json(self.record_path(upload.id), asdict(upload))

    def part_path(self, upload_id: str) -> Path:
        return self.uploads / f"{upload_id}.part"

    def record_path(self, upload_id: str) -> Path:
        return self.uploads / f"{upload_id}.json"

    def discard(self, upload_id: str) -> None:
        """Forget an upload and whatever it received."""
        for path in (self.record_path(upload_id), self.part_path(upload_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # ---- the sweep ----

    def sweep(self) -> None:
        """Delete expired files and uploads left unused (every worker may run it: each step tolerates another's)."""
        now = self.clock()
        for stored in self._stored():
            if stored.expires <= now:
                self.delete(stored.id)
        for path in _listing(self.uploads):
            upload_id = path.name.partition(".")[0]
            if not UPLOAD_ID.fullmatch(upload_id):
                continue
            if path.suffix == ".json" and self.upload(upload_id) is None:
                self.discard(upload_id)
            elif path.suffix == ".part" and not self.record_path(upload_id).exists():
                self.discard(upload_id)  # its session file lost (a crash between two writes): nothing reads it
        self._drop_orphans()

    def _drop_orphans(self) -> None:
        """Delete bytes without a sidecar: a publish cut short, or a delete between its two unlinks.

        A publish's bytes are without their sidecar for an instant: only bytes older than the directory's last
        change by an hour go. Both times are the file system's, so an injected clock cannot make a fresh one old.
        """
        try:
            changed = self.root.stat().st_mtime
        except FileNotFoundError:
            return
        for path in _listing(self.root):
            if FILE_ID.fullmatch(path.name) and not self.sidecar_path(path.name).exists():
                with contextlib.suppress(FileNotFoundError):
                    if changed - path.stat().st_mtime > UPLOAD_LIFETIME:
                        path.unlink()

    def _sidecars(self) -> Iterator[Path]:
        return (path for path in _listing(self.root) if path.suffix == ".json" and FILE_ID.fullmatch(path.stem))

    def _stored(self) -> Iterator[StoredFile]:
        """Every file whose sidecar reads, expired or not."""
        for sidecar in self._sidecars():
            if (record := _read_json(sidecar)) is not None:
                yield StoredFile(**record)


def _listing(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


def _load(kind: Callable[..., T], pattern: re.Pattern, key: str, path_of: Callable[[str], Path]) -> T | None:
    """The record a sidecar holds for `key`, as `kind`; None for a key of the wrong shape (never a path read)."""
    if not pattern.fullmatch(key):
        return None
    record = _read_json(path_of(key))
    return None if record is None else kind(**record)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):  # deleted meanwhile; a torn write cannot happen (see _write_json)
        return None


def _write_json(path: Path, record: dict) -> None:
    """Write a small JSON file atomically: to a temporary name, then renamed over the old one."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temporary.write_bytes(json.dumps(record).encode())
    os.replace(temporary, path)
