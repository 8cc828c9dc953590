"""The Files API's disk and time rules, in-process with an injected clock: expiry after 48 hours, uploads dead
after an hour unused, the sweep, and chunks of one upload received by different workers."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest

from gateway import create_app
from gateway.config import Settings
from gateway.files.inline import inline_files, named_file
from gateway.files.store import FILE_LIFETIME, UPLOAD_LIFETIME
from gateway.services import Services

START = 1_900_000_000.0  # any moment: the clock is the test's


@pytest.fixture
def now() -> list[float]:
    return [START]


def worker(tmp_path, now):
    """An app whose every part reads the test's clock, on a data dir other workers may share."""
    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_AUTH_MODE": "off"})
    app = create_app(settings)
    app.extensions["gateway"] = Services(settings, clock=lambda: now[0])
    return app


@pytest.fixture
def app(tmp_path, now):
    return worker(tmp_path, now)


def upload(client, data: bytes, mime: str = "image/png") -> dict:
    started = client.post(
        "/upload/v1beta/files",
        json={"file": {"displayName": "x"}},
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": mime,
        },
    )
    url = started.headers["X-Goog-Upload-URL"]
    done = client.post(
        url, data=data, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    )
    assert done.status_code == 200, done.text
    return done.get_json()["file"]


def test_a_file_expires_48_hours_after_its_upload_and_the_sweep_frees_the_disk(app, now, tmp_path):
    client = app.test_client()
    file = upload(client, b"\x89PNG data")
    assert file["createTime"] == "2030-03-17T17:46:40.000000Z"
    assert file["expirationTime"] == "2030-03-19T17:46:40.000000Z"
    now[0] = START + FILE_LIFETIME - 1
    assert client.get(f"/v1beta/{file['name']}").status_code == 200
    app.extensions["gateway"].sweep_files()
    assert (tmp_path / "files" / file["name"].removeprefix("files/")).exists()
    now[0] = START + FILE_LIFETIME
    assert client.get(f"/v1beta/{file['name']}").status_code == 403  # refused from its expiry on, swept or not
    assert client.get("/v1beta/files").get_json() == {}
    body = {"contents": [{"parts": [{"fileData": {"fileUri": file["uri"]}}]}]}
    with app.test_request_context(), pytest.raises(Exception, match="permission to access the File"):
        inline_files(app.extensions["gateway"].files, body)
    app.extensions["gateway"].sweep_files()
    assert sorted(p.name for p in (tmp_path / "files").rglob("*") if p.is_file()) == []


def test_an_upload_left_unused_for_an_hour_is_dead_and_swept(app, now, tmp_path):
    client = app.test_client()
    started = client.post(
        "/upload/v1beta/files",
        headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {"mimeType": "text/plain"}},
    )
    url = started.headers["X-Goog-Upload-URL"]
    step = {"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}
    now[0] += UPLOAD_LIFETIME - 1
    assert client.post(url, data=b"abc", headers=step).headers["X-Goog-Upload-Status"] == "active"
    now[0] += UPLOAD_LIFETIME - 1  # each step keeps it alive
    query = client.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["X-Goog-Upload-Size-Received"] == "3"
    now[0] += UPLOAD_LIFETIME
    app.extensions["gateway"].sweep_files()
    assert list((tmp_path / "files" / "uploads").iterdir()) == []
    dead = client.post(
        url, data=b"d", headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "3"}
    )
    assert dead.status_code == 400 and dead.headers["X-Goog-Upload-Status"] == "final"


def test_chunks_received_by_two_workers_make_one_file_with_the_right_hash(tmp_path, now):
    first, second = (worker(tmp_path, now).extensions["gateway"] for _ in range(2))
    data = os.urandom(3000)
    with create_app(Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path)})).test_request_context():
        upload = first.uploads.start("", {}, str(len(data)), "application/pdf")
        first.uploads.step(upload, "upload", "0", io.BytesIO(data[:1000]), 1000)
        second.uploads.step(second.files.upload(upload.id), "upload", "1000", io.BytesIO(data[1000:2000]), 1000)
        stored = first.uploads.step(
            first.files.upload(upload.id), "upload, finalize", "2000", io.BytesIO(data[2000:]), None
        )
    assert stored.sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert first.files.data_path(stored.id).read_bytes() == data
    assert second.files.get(stored.id) == stored


def test_bytes_without_a_sidecar_are_swept_only_once_long_stale(app, tmp_path):
    files = app.extensions["gateway"].files
    files.root.mkdir(parents=True)
    stale, fresh = files.root / "stale0", files.root / "fresh0"
    stale.write_bytes(b"cut short")
    fresh.write_bytes(b"being published")
    os.utime(stale, (1, os.stat(files.root).st_mtime - UPLOAD_LIFETIME - 1))
    files.sweep()
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize(
    ("uri", "file_id"),
    [
        ("files/abc123", "abc123"),
        ("https://gateway.example/v1beta/files/abc-123", "abc-123"),
        ("http://127.0.0.1:8045/v1/files/abc?alt=media", "abc"),
        ("gs://bucket/files/abc.png", None),
        ("https://www.youtube.com/watch?v=abc", None),
        ("files/ABC", None),
        (None, None),
    ],
)
def test_which_uris_name_a_gateway_file(uri, file_id):
    assert named_file(uri) == file_id


def test_a_chunk_sent_while_another_of_the_upload_is_received_is_refused_and_the_upload_kept(app):
    import fcntl

    client = app.test_client()
    headers = {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"}
    started = client.post("/upload/v1beta/files", json={"file": {"mimeType": "text/plain"}}, headers=headers)
    url = started.headers["X-Goog-Upload-URL"]
    upload_id = url.split("upload_id=")[1].split("&")[0]
    step = {"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}
    with app.extensions["gateway"].files.part_path(upload_id).open("ab") as running:
        fcntl.flock(running, fcntl.LOCK_EX)  # the first chunk, still being written
        busy = client.post(url, data=b"abc", headers=step)
    assert busy.status_code == 409 and busy.get_json()["error"]["status"] == "ABORTED"
    assert client.post(url, data=b"abc", headers=step).headers["X-Goog-Upload-Status"] == "active"


@pytest.mark.parametrize(("size", "status"), [(1000, 200), (1001, 400)])
def test_a_multipart_upload_is_held_to_the_limit(tmp_path, now, size, status):
    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_FILES_MAX_BYTES": "1000"})
    app = create_app(settings)
    body = b"--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b\r\nContent-Type: image/png\r\n\r\n"
    body += b"x" * size + b"\r\n--b--\r\n"
    headers = {"X-Goog-Upload-Protocol": "multipart", "Content-Type": "multipart/related; boundary=b"}
    answer = app.test_client().post("/upload/v1beta/files", data=body, headers=headers)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert "limit of 1000 bytes (GATEWAY_FILES_MAX_BYTES)" in answer.get_json()["error"]["message"]
    assert [p.name for p in (tmp_path / "files" / "uploads").iterdir()] == []
