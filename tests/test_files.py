"""The Files API on the real gateway (gunicorn, two gevent workers): the upload protocols spoken by hand, what
each refusal leaves on disk (nothing), the File resource, list/get/delete, and fileData inlined upstream."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import uuid
from datetime import datetime

import pytest
import requests

from gateway.keys.store import KeyStore
from tests.conftest import API_KEY, wait_for
from tests.console_helper import console_session
from tests.files_helper import (
    UPLOAD,
    b64,
    empty_files,
    pdf,
    png,
    send,
    start,
    stored_paths,
    upload,
    upload_url,
)

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
COUNT = "/v1beta/models/gemini-2.5-flash:countTokens"
KIB = 1024


@pytest.fixture
def files(gateway):
    """The shared gateway with no file, before and after."""
    empty_files(gateway)
    yield gateway
    empty_files(gateway)


def asking_about(uri: str, mime: str = "image/png", snake: bool = False) -> dict:
    part = {"file_data": {"file_uri": uri, "mime_type": mime}} if snake else {"fileData": {"fileUri": uri}}
    return {"contents": [{"role": "user", "parts": [part, {"text": "What is in this file?"}]}]}


def sent_parts(upstream, method: str = "streamGenerateContent") -> list[dict]:
    return upstream.calls_to(method)[-1].body["request"]["contents"][0]["parts"]


def test_a_chunked_upload_keeps_the_exact_bytes_and_their_sha256(files):
    data = bytes(range(256)) * 3 * KIB  # 768 KiB: three chunks of 256 KiB
    url = upload_url(files, len(data), "application/octet-stream", displayName="three chunks")
    for offset in (0, 256 * KIB):
        middle = send(url, data[offset : offset + 256 * KIB], offset, "upload")
        assert (middle.status_code, middle.headers["X-Goog-Upload-Status"]) == (200, "active"), middle.text
    final = send(url, data[512 * KIB :], 512 * KIB)
    assert (final.status_code, final.headers["X-Goog-Upload-Status"]) == (200, "final"), final.text
    file = final.json()["file"]
    file_id = file["name"].removeprefix("files/")
    assert file["sizeBytes"] == str(len(data)) and file["mimeType"] == "application/octet-stream"
    assert file["sha256Hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert file["displayName"] == "three chunks" and file["state"] == "ACTIVE" and file["source"] == "UPLOADED"
    assert file["uri"] == f"{files.url}/v1beta/files/{file_id}"
    assert file["createTime"].endswith("Z") and file["expirationTime"] > file["createTime"]
    assert files.get(f"/v1beta/files/{file_id}").json() == file
    assert stored_paths(files) == [file_id, f"{file_id}.json"]  # the upload's own files are gone


def test_the_file_resource_has_google_times_48_hours_apart(files):
    file = upload(files, png())
    created, expires = (
        datetime.fromisoformat(file[k].replace("Z", "+00:00")) for k in ("createTime", "expirationTime")
    )
    assert (expires - created).total_seconds() == 48 * 3600
    assert file["updateTime"] == file["createTime"]


def test_a_client_may_name_its_file_once(files):
    assert upload(files, png(), name="files/my-photo")["name"] == "files/my-photo"
    again = start(files, 10, name="my-photo")
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"
    bad = start(files, 10, name="files/Not_Valid")
    assert bad.status_code == 400 and "Invalid file name" in bad.json()["error"]["message"]


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_a_multipart_upload_takes_metadata_and_media_in_one_body(files, line_end):
    data = png() + b"\r\n--almost-the-boundary\r\n" + bytes(range(256)) * 40  # a near-delimiter inside the media
    boundary = b"==" + uuid.uuid4().hex.encode() + b"=="
    metadata = json.dumps({"file": {"displayName": "by multipart"}}).encode()
    body = line_end.join(
        [
            b"--" + boundary,
            b"Content-Type: application/json; charset=UTF-8",
            b"",
            metadata,
            b"--" + boundary,
            b"Content-Type: image/png",
            b"Content-Transfer-Encoding: binary",
            b"",
            data,
            b"--" + boundary + b"--",
            b"",
        ]
    )
    headers = {
        "Content-Type": f'multipart/related; boundary="{boundary.decode()}"',
        "X-Goog-Upload-Protocol": "multipart",
    }
    answer = files.post(UPLOAD + "?uploadType=multipart", data=body, headers=headers)
    assert answer.status_code == 200, answer.text
    file = answer.json()["file"]
    assert (file["displayName"], file["mimeType"], file["sizeBytes"]) == ("by multipart", "image/png", str(len(data)))
    assert file["sha256Hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_upload_steps_need_no_key_but_a_live_upload_id(files):
    url = upload_url(files, 3)
    forged = url.replace("upload_id=", "upload_id=x")[: len(url)]
    refusal(send(forged, b"abc", 0), "Unknown or expired upload URL")
    assert send(url, b"abc", 0).status_code == 200
    assert start(files, 3, key=None).status_code == 401  # the start itself needs the key


def refusal(answer: requests.Response, words: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["X-Goog-Upload-Status"] == "final"
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and words in error["message"], error


def assert_dead(url: str) -> None:
    """The upload is gone with its bytes: its URL opens nothing now (sent without a key, as the SDKs do)."""
    refusal(send(url, b"x", 0), "Unknown or expired upload URL")


def test_a_truncated_upload_is_refused_and_leaves_nothing(files):
    url = upload_url(files, 1000)
    refusal(send(url, b"x" * 600, 0), "600 of the 1000 bytes")
    assert_dead(url)
    assert stored_paths(files) == [] and files.get("/v1beta/files").json() == {}


def test_a_chunk_at_the_wrong_offset_is_refused_and_leaves_nothing(files):
    url = upload_url(files, 1000)
    assert send(url, b"x" * 500, 0, "upload").status_code == 200
    refusal(send(url, b"x" * 500, 400), "X-Goog-Upload-Offset is '400', but the upload has received 500 bytes")
    assert stored_paths(files) == []


def test_a_finalize_without_upload_is_refused(files):
    url = upload_url(files, 1000)
    refusal(send(url, b"", 0, "finalize"), "0 of the 1000 bytes")
    assert stored_paths(files) == []


def test_an_unknown_upload_url_is_refused(files):
    url = f"{files.url}{UPLOAD}?upload_id={'A' * 32}&upload_protocol=resumable"
    refusal(send(url, b"abc", 0, **{"x-goog-api-key": API_KEY}), "Unknown or expired upload URL")


def test_a_size_header_that_lies_is_refused_and_leaves_nothing(files):
    url = upload_url(files, 100)
    refusal(send(url, b"x" * 150, 0), "more than the 100 bytes its X-Goog-Upload-Header-Content-Length announced")
    assert stored_paths(files) == [] and files.get("/v1beta/files").json() == {}


def test_a_file_over_the_limit_is_refused_at_start_naming_it(files):
    answer = start(files, 20 * 1024 * 1024 + 1)
    refusal(answer, "limit of 20971520 bytes (GATEWAY_FILES_MAX_BYTES)")
    assert stored_paths(files) == []


def test_a_chunk_whose_body_is_cut_short_leaves_nothing(files):
    url = upload_url(files, 1000)
    path = url.removeprefix(files.url)
    with socket.create_connection(("127.0.0.1", int(files.url.rsplit(":", 1)[1])), timeout=5) as client:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nX-Goog-Upload-Command: upload, finalize"
        client.sendall(f"{head}\r\nX-Goog-Upload-Offset: 0\r\n\r\n".encode() + b"x" * 10)
        client.shutdown(socket.SHUT_WR)  # the client goes: the body ends 990 bytes early
        client.recv(65536)
    wait_for(lambda: stored_paths(files) == [])
    assert_dead(url)


def test_query_and_cancel(files):
    url = upload_url(files, 1000)
    send(url, b"x" * 300, 0, "upload")
    queried = send(url, b"", 0, "query")
    assert queried.headers["X-Goog-Upload-Status"] == "active"
    assert queried.headers["X-Goog-Upload-Size-Received"] == "300"
    assert send(url, b"", 0, "cancel").headers["X-Goog-Upload-Status"] == "cancelled"
    assert stored_paths(files) == []


def test_list_pages_newest_first_and_delete(files):
    names = [upload(files, png(width=w))["name"] for w in (1, 2, 3)]
    first = files.get("/v1beta/files?pageSize=2").json()
    assert [f["name"] for f in first["files"]] == names[::-1][:2]
    second = files.get(f"/v1beta/files?pageSize=2&pageToken={first['nextPageToken']}").json()
    assert [f["name"] for f in second["files"]] == names[:1] and "nextPageToken" not in second
    assert files.get("/v1beta/files?pageToken=nonsense").status_code == 400
    deleted = requests.delete(f"{files.url}/v1/{names[0]}", headers={"x-goog-api-key": API_KEY}, timeout=10)
    assert deleted.status_code == 200 and deleted.json() == {}
    gone = files.get(f"/v1beta/{names[0]}")
    assert gone.status_code == 403
    assert gone.json()["error"]["message"] == (
        f"You do not have permission to access the File {names[0].removeprefix('files/')} or it may not exist."
    )
    assert len(stored_paths(files)) == 4


def test_file_data_becomes_inline_data_in_generate_stream_and_count_tokens(files, account, upstream):
    image, document = png(), pdf()
    image_file, pdf_file = upload(files, image), upload(files, document, "application/pdf")
    assert files.post(GENERATE, json=asking_about(image_file["uri"])).status_code == 200
    assert sent_parts(upstream)[0] == {"inlineData": {"mimeType": "image/png", "data": b64(image)}}
    streamed = files.post(STREAM, json=asking_about(pdf_file["name"], "application/pdf", snake=True))
    assert streamed.status_code == 200 and "Hel" in streamed.text
    assert sent_parts(upstream, "streamGenerateContent")[0] == {
        "inlineData": {"mimeType": "application/pdf", "data": b64(document)}
    }
    counted = files.post(COUNT, json=asking_about(image_file["uri"]))
    assert counted.status_code == 200, counted.text
    assert sent_parts(upstream, "countTokens")[0]["inlineData"]["data"] == b64(image)


def test_a_missing_file_in_generate_is_google_s_403(files, account, upstream):
    answer = files.post(GENERATE, json=asking_about(f"{files.url}/v1beta/files/nosuchfile"))
    assert answer.status_code == 403
    assert answer.json()["error"] == {
        "code": 403,
        "message": "You do not have permission to access the File nosuchfile or it may not exist.",
        "status": "PERMISSION_DENIED",
        "details": answer.json()["error"]["details"],
    }
    assert upstream.calls_to("streamGenerateContent") == []


def test_other_file_uris_go_upstream_as_sent(files, account, upstream):
    body = asking_about("gs://bucket/cat.png")
    assert files.post(GENERATE, json=body).status_code == 200
    assert sent_parts(upstream)[0] == {"fileData": {"fileUri": "gs://bucket/cat.png"}}


@pytest.fixture
def teams(files):
    """Two team keys, A and B (revoked after): name -> key."""
    store = KeyStore(files.store)
    made = {}
    for name in ("team-a", "team-b"):
        done = files.cli("keys", "create", name, "--json")
        assert done.returncode == 0, done.stderr
        made[name] = json.loads(done.stdout)["key"]
    yield made
    for key in store.all_keys():
        store.revoke(key.id)


def test_a_team_key_sees_only_its_own_files_and_the_admin_key_all(files, teams, account, upstream):
    a, b = teams["team-a"], teams["team-b"]
    own = upload(files, png(), key=a)
    file_id = own["name"].removeprefix("files/")
    denied = f"You do not have permission to access the File {file_id} or it may not exist."
    for answer in (
        files.get(f"/v1beta/files/{file_id}", key=b),
        requests.delete(f"{files.url}/v1beta/files/{file_id}", headers={"x-goog-api-key": b}, timeout=10),
        files.post(GENERATE, json=asking_about(own["uri"]), key=b),
        files.post(COUNT, json=asking_about(own["name"]), key=b),
    ):
        assert answer.status_code == 403 and answer.json()["error"]["message"] == denied, answer.text
        assert answer.json()["error"]["status"] == "PERMISSION_DENIED"
    assert files.get("/v1beta/files", key=b).json() == {}
    assert [f["name"] for f in files.get("/v1beta/files", key=a).json()["files"]] == [own["name"]]
    assert files.post(GENERATE, json=asking_about(own["uri"]), key=a).status_code == 200
    admins = upload(files, pdf(), "application/pdf")  # the admin key's file is no team's
    assert files.get(f"/v1beta/{admins['name']}", key=a).status_code == 403
    assert {f["name"] for f in files.get("/v1beta/files").json()["files"]} == {own["name"], admins["name"]}
    assert files.get(f"/v1beta/files/{file_id}").json() == own
    assert files.post(GENERATE, json=asking_about(own["uri"])).status_code == 200


def test_an_upload_belongs_to_the_key_that_started_it(files, teams):
    url = upload_url(files, 3, key=teams["team-a"])
    finished = send(url, b"abc", 0, **{"x-goog-api-key": teams["team-b"]})  # whoever sends the bytes
    file_id = finished.json()["file"]["name"].removeprefix("files/")
    assert files.get(f"/v1beta/files/{file_id}", key=teams["team-a"]).status_code == 200
    assert files.get(f"/v1beta/files/{file_id}", key=teams["team-b"]).status_code == 403


def test_the_console_totals_show_the_files_stored_and_their_bytes(files):
    session, _ = console_session(files)
    empty = session.get(files.url + "/console/api/state", timeout=10).json()["totals"]
    assert (empty["files"], empty["file_bytes"]) == (0, 0)
    image, document = png(), pdf()
    upload(files, image)
    upload(files, document, "application/pdf")

    def stored() -> tuple[int, int]:
        totals = session.get(files.url + "/console/api/state", timeout=10).json()["totals"]
        return totals["files"], totals["file_bytes"]

    wait_for(lambda: stored() == (2, len(image) + len(document)), 3)  # the viewers' document is a second old at most
    page = session.get(files.url + "/console", timeout=10).text
    assert (
        '<b data-total="files">2</b>' in page and f'<b data-total="file_bytes">{len(image) + len(document)}</b>' in page
    )


def test_two_hosts_sharing_a_files_dir_serve_one_upload_and_its_file(own_gateway, tmp_path, upstream):
    shared = str(tmp_path / "shared-files")
    first, second = (own_gateway(f"files-host-{n}", GATEWAY_FILES_DIR=shared) for n in (1, 2))
    data = bytes(range(256)) * 4 * KIB  # 1 MiB, in two chunks: one to each host
    url = upload_url(first, len(data), "application/pdf")
    assert send(url, data[: 512 * KIB], 0, "upload").status_code == 200
    final = send(url.replace(first.url, second.url), data[512 * KIB :], 512 * KIB)
    assert final.status_code == 200, final.text
    file = final.json()["file"]
    assert file["sha256Hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert first.get(f"/v1beta/{file['name']}").json()["sizeBytes"] == str(len(data))
    assert [f["name"] for f in second.get("/v1beta/files").json()["files"]] == [file["name"]]
