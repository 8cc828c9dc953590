"""A 20 MiB upload is streamed to disk: the worker's resident memory grows by a few MiB at most, never by the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.files_helper import send, upload, upload_url

MIB = 1024 * 1024
CHUNK = 8 * MIB  # what both SDKs send


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (resident now) or VmHWM (the peak since the last reset) of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM starts again from the current RSS (Linux 4.0+)


def worker_pid(master: int) -> int:
    [child] = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(child)


@pytest.fixture(scope="module")
def one_worker(own_gateway):
    return own_gateway("files-memory", GATEWAY_WORKERS="1")


def test_a_20_mib_upload_adds_at_most_a_few_mib_to_the_worker(one_worker, capsys):
    data = os.urandom(20 * MIB)
    pid = worker_pid(one_worker.process.pid)
    upload(one_worker, data[: 2 * MIB], "application/pdf")  # the code paths warmed up, their buffers allocated
    reset_peak(pid)
    before = memory_mib(pid)
    url = upload_url(one_worker, len(data), "application/pdf")
    for offset in range(0, len(data), CHUNK):
        last = offset + CHUNK >= len(data)
        answer = send(url, data[offset : offset + CHUNK], offset, "upload, finalize" if last else "upload")
        assert answer.status_code == 200, answer.text
    grown = memory_mib(pid, "VmHWM") - before  # the peak during the upload, not what is left after it
    assert answer.json()["file"]["sizeBytes"] == str(len(data))
    with capsys.disabled():
        print(f"\n20 MiB upload in 8 MiB chunks: worker RSS {before:.1f} MiB, peak during it +{grown:.1f} MiB")
    assert grown < 8, f"the worker grew by {grown:.1f} MiB for a 20 MiB upload"
