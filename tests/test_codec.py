"""The request path's JSON codec: orjson, with the standard library where orjson cannot."""

import json

import pytest

from gateway.codec import dumps, dumps_line, loads


def test_round_trip_is_compact_utf8():
    value = {"text": "héllo ✓", "n": [1, 2.5, None, True]}
    assert dumps(value) == '{"text":"héllo ✓","n":[1,2.5,null,true]}'.encode()
    assert loads(dumps(value)) == value


def test_integers_beyond_64_bits_travel_as_the_double_google_keeps():
    # protobuf's Struct (functionCall args, responses) holds every number as a double anyway
    assert loads(b'{"n": 123456789012345678901234567890}') == {"n": 1.2345678901234568e29}
    assert json.loads(dumps({"n": 2**70})) == {"n": 2**70}


def test_broken_json_raises_the_standard_librarys_precise_error():
    with pytest.raises(json.JSONDecodeError, match="line 1 column"):
        loads(b'{"a": }')


def test_only_lines_for_clients_escape_line_separators():
    assert dumps({"t": "a\u2028b"}) == '{"t":"a\u2028b"}'.encode()
    assert dumps_line({"t": "a\u2028b"}) == b'{"t":"a\\u2028b"}'
