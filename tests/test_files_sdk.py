"""The Files API as the real SDKs use it: google-genai (Python) and @google/genai (Node) upload a PDF and a PNG
through the gateway, use them in generate and stream, and the fake Google receives their exact bytes inline."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from google.genai import errors, types

from tests.conftest import API_KEY
from tests.files_helper import b64, empty_files, pdf, png, stored_paths
from tests.sdk_helper import genai_client, legacy, point_legacy_at

NODE_DIR = Path(__file__).parent / "node"
MODEL = "gemini-2.5-flash"
MIB = 1024 * 1024


@pytest.fixture
def files(gateway, account):
    empty_files(gateway)
    yield gateway
    empty_files(gateway)


@pytest.fixture
def media(tmp_path) -> dict[str, tuple[Path, str, bytes]]:
    """A PDF and a PNG on disk: name -> (path, mime type, bytes)."""
    found = {}
    for name, mime, data in (("report.pdf", "application/pdf", pdf()), ("chart.png", "image/png", png(16, 9))):
        (tmp_path / name).write_bytes(data)
        found[name] = (tmp_path / name, mime, data)
    return found


def inline_parts(upstream) -> list[dict]:
    """Every inlineData part the fake Google received, in order."""
    return [
        part["inlineData"]
        for call in upstream.calls_to("streamGenerateContent")
        for content in call.body["request"]["contents"]
        for part in content["parts"]
        if "inlineData" in part
    ]


def test_google_genai_uploads_and_uses_a_pdf_and_a_png(files, upstream, media):
    client = genai_client(files.url)
    for path, mime, data in media.values():
        file = client.files.upload(file=path)  # the mime type guessed from the name, as tutorials do it
        assert (file.mime_type, file.size_bytes, file.display_name) == (mime, len(data), None)
        assert client.files.get(name=file.name).sha256_hash == file.sha256_hash
        assert client.models.generate_content(model=MODEL, contents=[file, "What is in it?"]).text == "Hello"
        streamed = "".join(c.text for c in client.models.generate_content_stream(model=MODEL, contents=[file, "And?"]))
        assert streamed == "Hello"
        assert inline_parts(upstream)[-2:] == [{"mimeType": mime, "data": b64(data)}] * 2
    listed = list(client.files.list(config={"page_size": 1}))  # two pages
    assert {f.name for f in listed} == {f.name for f in client.files.list()} and len(listed) == 2
    for file in listed:
        client.files.delete(name=file.name)
    assert list(client.files.list()) == [] and stored_paths(files) == []


def test_google_genai_uploads_a_big_file_in_8_mib_chunks(files, upstream, tmp_path):
    data = bytes(range(251)) * (17 * MIB // 251)  # 17 MiB: chunks of 8, 8 and 1 MiB
    (tmp_path / "big.bin").write_bytes(data)
    client = genai_client(files.url)
    file = client.files.upload(
        file=tmp_path / "big.bin", config={"mime_type": "application/pdf", "display_name": "big"}
    )
    assert (file.size_bytes, file.display_name) == (len(data), "big")
    assert client.models.count_tokens(model=MODEL, contents=[file, "How long?"]).total_tokens is not None
    [call] = upstream.calls_to("countTokens")
    assert call.body["request"]["contents"][0]["parts"][0]["inlineData"]["data"] == b64(data)


def test_google_genai_hears_the_gateway_s_refusals(files, tmp_path):
    (tmp_path / "huge.bin").write_bytes(b"\0" * (20 * MIB + 1))
    # closed after: a connection an SDK error left open holds a worker's graceful stop for 15 s
    with genai_client(files.url) as client:
        with pytest.raises(errors.ClientError) as refused:
            client.files.upload(file=tmp_path / "huge.bin", config=types.UploadFileConfig(mime_type="image/png"))
        with pytest.raises(errors.ClientError) as missing:
            client.files.get(name="files/doesnotexist")
    assert refused.value.code == 400 and "GATEWAY_FILES_MAX_BYTES" in refused.value.message
    assert missing.value.code == 403 and missing.value.status == "PERMISSION_DENIED"


def test_google_generativeai_gets_lists_uses_and_deletes_a_file(files, upstream, media):
    """google-generativeai's own upload_file cannot reach the gateway: it reads its discovery document from
    generativelanguage.googleapis.com whatever api_endpoint says (google/generativeai/client.py). Everything
    else about files goes through api_endpoint: a file uploaded by google-genai is got, listed, used, deleted."""
    path, mime, data = media["chart.png"]
    client = genai_client(files.url)  # held: a google-genai client closes its connections when collected
    uploaded = client.files.upload(file=path)
    point_legacy_at(files.url)
    file = legacy.get_file(uploaded.name)
    assert (file.mime_type, file.size_bytes, file.uri) == (mime, len(data), uploaded.uri)
    assert [f.name for f in legacy.list_files()] == [uploaded.name]
    assert legacy.GenerativeModel(MODEL).generate_content([file, "What is in it?"]).text == "Hello"
    assert inline_parts(upstream) == [{"mimeType": mime, "data": b64(data)}]
    legacy.delete_file(uploaded.name)
    assert stored_paths(files) == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (CI has it: .ci/run)")
def test_node_google_genai_uploads_and_uses_a_pdf_a_png_and_9_mib_in_chunks(files, upstream, media):
    if not (NODE_DIR / "node_modules" / "@google" / "genai").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True)
    big = media["big.pdf"] = (media["report.pdf"][0].with_name("big.pdf"), "application/pdf", bytes(range(256)) * 36864)
    big[0].write_bytes(big[2])  # 9 MiB: the Node uploader's 8 MiB chunk, then the rest
    specs = [f"{path}={mime}" for path, mime, _ in media.values()]
    done = subprocess.run(
        ["node", "files.mjs", files.url, API_KEY, *specs], cwd=NODE_DIR, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    sizes = [str(len(data)) for _, _, data in media.values()]
    assert [f["sizeBytes"] for f in report["uploaded"]] == sizes
    assert [f["mimeType"] for f in report["fetched"]] == [mime for _, mime, _ in media.values()]
    assert report["generated"] == report["streamed"] == ["Hello"] * len(media)
    assert sorted(report["listed"]) == sorted(f["name"] for f in report["uploaded"])
    expected = [{"mimeType": mime, "data": b64(data)} for _, mime, data in media.values() for _ in (1, 2)]
    assert inline_parts(upstream) == expected
    assert stored_paths(files) == []
