"""The request path's JSON codec: msgspec, with the standard library's words for broken input."""

import json

import pytest

from gateway.codec import DECODE_ERRORS, decode, dumps, dumps_line, loads


def test_round_trip_is_compact_utf8():
    value = {"text": "héllo ✓", "n": [1, 2.5, None, True]}
    assert dumps(value) == '{"text":"héllo ✓","n":[1,2.5,null,true]}'.encode()
    assert loads(dumps(value)) == value


def test_integers_beyond_64_bits_stay_exact_both_ways():
    assert loads(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'


@pytest.mark.parametrize(
    "raw", [b'"\\ud800"', b'"\\udc00"', b'"\\ud800\\u0041"', b'"\xff"', b"NaN", b"[Infinity]", b"{} x", b"[" * 5000]
)
def test_strict_decode_refuses_what_google_refuses(raw):
    with pytest.raises(DECODE_ERRORS):
        decode(raw)


def test_a_lone_surrogate_read_leniently_is_written_back_escaped():
    assert dumps(loads(b'{"t": "a\\ud800"}')) == b'{"t":"a\\ud800"}'


def test_broken_json_raises_the_standard_librarys_precise_error():
    with pytest.raises(json.JSONDecodeError, match="line 1 column"):
        loads(b'{"a": }')


def test_only_lines_for_clients_escape_line_separators():
    assert dumps({"t": "a\u2028b"}) == '{"t":"a\u2028b"}'.encode()
    assert dumps_line({"t": "a\u2028b"}) == b'{"t":"a\\u2028b"}'
