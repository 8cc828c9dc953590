"""A big body written for Google a piece at a time: the same JSON as written whole."""

import socket

import gevent
import gevent.socket

from gateway.api import body as body_module
from gateway.codec import dumps


def test_parts_written_in_pieces_give_the_same_json_and_let_others_run(monkeypatch):
    monkeypatch.setattr(body_module, "PIECE", 1000)
    image = {"inlineData": {"mimeType": "image/png", "data": "QQ=="}}
    big = {
        "contents": [
            {"role": "user", "parts": [{"text": "a" * 1500}, image]},
            {"role": "model"},
            {"role": "user", "parts": [{"text": "é ✓ \u2028"}, {"text": "b" * 999}]},
        ],
        "generationConfig": {"temperature": 0.5},
    }
    ours, theirs = (gevent.socket.socket(fileno=end.detach()) for end in socket.socketpair())
    stream = gevent.spawn(theirs.recv, 10)  # a stream waiting for its next event
    gevent.sleep(0.01)
    ours.send(b"event")  # it arrives; a sleep(0) would not let that greenlet read it
    written = body_module.written_in_pieces(big)
    assert stream.dead and stream.value == b"event"  # the 1500-byte part passed a piece: the stream ran meanwhile
    assert dumps({"request": written}) == dumps({"request": big})
    assert written["contents"][1] is big["contents"][1]  # a content without parts is left as it is


def test_a_body_without_contents_is_left_as_it_is():
    body = {"generationConfig": {}}
    assert body_module.written_in_pieces(body) is body
