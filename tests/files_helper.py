"""Shared by the Files API tests: sample media, the upload protocol spoken by hand, a files dir emptied."""

from __future__ import annotations

import base64
import shutil
import struct
import zlib
from pathlib import Path

import requests

from tests.conftest import API_KEY, Gateway

UPLOAD = "/upload/v1beta/files"


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG (RGB, one colour): what an image upload carries."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf(text: str = "Hello from the gateway") -> bytes:
    """A minimal one-page PDF with a line of text."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def files_dir(gateway: Gateway) -> Path:
    return Path(gateway.env.get("GATEWAY_FILES_DIR") or Path(gateway.env["GATEWAY_DATA_DIR"]) / "files")


def empty_files(gateway: Gateway) -> None:
    """Every file and upload off the gateway's disk (its workers keep no file state of their own)."""
    root = files_dir(gateway)
    for path in root.iterdir() if root.exists() else ():
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def stored_paths(gateway: Gateway) -> list[str]:
    """What lies in the files dir and its uploads dir, relative names (empty: nothing half-written stays)."""
    root = files_dir(gateway)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def start(
    gateway: Gateway, size: int | None, mime: str = "image/png", key: str | None = API_KEY, **file: str
) -> requests.Response:
    """A resumable upload's `start`, as google-genai sends it."""
    headers = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Type": mime,
    }
    if size is not None:
        headers["X-Goog-Upload-Header-Content-Length"] = str(size)
    return gateway.post(UPLOAD, json={"file": file}, key=key, headers=headers)


def upload_url(gateway: Gateway, size: int | None, mime: str = "image/png", key: str | None = API_KEY, **file) -> str:
    answer = start(gateway, size, mime, key, **file)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Goog-Upload-Status"] == "active"
    return answer.headers["X-Goog-Upload-URL"]


def send(url: str, data: bytes, offset: int, command: str = "upload, finalize", **headers) -> requests.Response:
    """One step at the upload URL, with no key: what google-genai sends after `start`."""
    headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset), **headers}
    return requests.post(url, data=data, headers=headers, timeout=30)


def upload(gateway: Gateway, data: bytes, mime: str = "image/png", key: str | None = API_KEY, **file) -> dict:
    """Upload in one step; the File resource."""
    answer = send(upload_url(gateway, len(data), mime, key, **file), data, 0)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Goog-Upload-Status"] == "final"
    return answer.json()["file"]
