"""Line and event handling of upstream streams, fed plain lists."""

import json

import pytest

from gateway.upstream.sse import collect, has_content, iter_lines, json_array, parse_events, sse_frames


def wrapped(response: dict) -> bytes:
    return b"data: " + json.dumps({"response": response, "traceId": "t"}).encode()


def text_event(text: str, **candidate) -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, **candidate}]}


class FakeRaw:
    def __init__(self, chunks):
        self.chunks = list(chunks)

    def read1(self, size):
        return self.chunks.pop(0) if self.chunks else b""


def test_lines_are_split_across_chunk_boundaries():
    raw = FakeRaw([b'data: {"a"', b":1}\n\nda", b"ta: 2\n", b"tail"])
    assert list(iter_lines(raw)) == [b'data: {"a":1}', b"", b"data: 2", b"tail"]


def test_a_multi_megabyte_event_arrives_whole_from_many_chunks():
    line = b"data: " + json.dumps({"response": {"data": "A" * 3_000_000}}).encode()
    stream = line + b"\n\n" + line + b"\n\n"
    raw = FakeRaw(stream[i : i + 65536] for i in range(0, len(stream), 65536))
    assert list(iter_lines(raw)) == [line, b"", line, b""]


def test_events_are_unwrapped_and_foreign_lines_ignored():
    lines = [
        b": keepalive",
        b"event: message",
        wrapped(text_event("Hel")),
        b"",
        b"id: 7",
        b'data:{"response":{"candidates":[]}}',  # no space after the colon
        b"\r",
        b"data: [DONE]",
        b"",
    ]
    assert list(parse_events(lines)) == [text_event("Hel"), {"candidates": []}]


def test_crlf_lines_padded_done_and_a_lone_surrogate_event():
    lines = [
        wrapped(text_event("a")) + b"\r",
        b"\r",
        b"data:   [DONE]  \r",
        b"\r",
        b'data: {"response": {"t": "\\ud800"}}\r',  # msgspec refuses it; the standard library reads it
        b"\r",
    ]
    assert list(parse_events(lines)) == [text_event("a"), {"t": "\ud800"}]


def test_multiline_event_and_pending_event_at_eof():
    lines = [b'data: {"candidates":', b"data: []}", b"", b'data: {"x": 1}']
    assert list(parse_events(lines)) == [{"candidates": []}, {"x": 1}]


def test_malformed_event_is_skipped_and_array_wrapped_error_unwrapped():
    lines = [b"data: {not json", b"", b'data: [{"error": {"code": 429}}]', b""]
    assert list(parse_events(lines)) == [{"error": {"code": 429}}]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (text_event("x"), True),
        ({"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]}, True),
        ({"promptFeedback": {"blockReason": "SAFETY"}}, True),
        ({"usageMetadata": {"totalTokenCount": 3}}, False),
        ({"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}]}, False),
        ({}, False),
    ],
)
def test_has_content(event, expected):
    assert has_content(event) is expected


def test_sse_frames_are_single_line_json():
    # google-genai 1.x/2.x split lines at U+2028, U+2029 and U+0085 even inside JSON strings
    frames = list(sse_frames([{"text": "a\u2028b\u2029c\x85d é"}]))
    assert frames == ['data: {"text":"a\\u2028b\\u2029c\\u0085d é"}\n\n'.encode()]
    assert json.loads(frames[0][6:]) == {"text": "a\u2028b\u2029c\x85d é"}


def test_json_array_is_exact_and_moves_usage_onto_a_candidate_event():
    events = [{"usageMetadata": {"totalTokenCount": 1}}, text_event("Hel"), text_event("lo")]
    body = b"".join(json_array(events))
    assert body.startswith(b"[{") and body.endswith(b"}]")
    chunks = json.loads(body)
    assert chunks[0]["usageMetadata"] == {"totalTokenCount": 1}
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["Hel", "lo"]


def test_json_array_of_nothing_is_an_empty_array():
    assert b"".join(json_array([])) == b"[]"


def test_collect_joins_text_keeps_signatures_candidates_and_metadata():
    events = [
        {**text_event("Hel", index=0), "responseId": "r1", "modelVersion": "m"},
        {"candidates": [{"index": 1, "content": {"role": "model", "parts": [{"text": "Other"}]}}]},
        {"candidates": [{"index": 0, "content": {"parts": [{"text": "lo", "thoughtSignature": "sig"}]}}]},
        {
            "candidates": [
                {
                    "index": 0,
                    "content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"totalTokenCount": 9},
            "responseId": "r2",
        },
    ]
    result = collect(events)
    assert result["responseId"] == "r1" and result["modelVersion"] == "m"
    assert result["usageMetadata"] == {"totalTokenCount": 9}
    first, second = result["candidates"]
    assert first["content"]["parts"] == [
        {"text": "Hello", "thoughtSignature": "sig"},
        {"functionCall": {"name": "f", "args": {}}},
    ]
    assert first["finishReason"] == "STOP"
    assert second["content"]["parts"] == [{"text": "Other"}]


def test_collect_keeps_thoughts_apart_from_the_answer():
    events = [
        {"candidates": [{"content": {"parts": [{"text": "hmm", "thought": True}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "answer"}]}}]},
    ]
    assert collect(events)["candidates"][0]["content"]["parts"] == [
        {"text": "hmm", "thought": True},
        {"text": "answer"},
    ]
