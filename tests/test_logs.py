"""The JSON log line format, fed records directly."""

import json
import logging

from gateway.logs import JsonLines


def record(message: str, **fields) -> logging.LogRecord:
    line = logging.LogRecord("gateway.request", logging.INFO, __file__, 1, message, (), None)
    line.fields = fields
    return line


def test_a_line_is_one_json_object_with_its_fields():
    line = JsonLines().format(record("POST /v1beta/x 200", request_id="r1", status=200, model="é", odd=object()))
    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["request_id"] == "r1" and parsed["status"] == 200 and parsed["model"] == "é"
    assert parsed["odd"].startswith("<object object")


def test_a_lone_surrogate_in_a_message_is_escaped_not_lost():
    assert json.loads(JsonLines().format(record("bad \ud800 text")))["message"] == "bad \ud800 text"
