"""A request id on every request: the caller's X-Request-Id when it is safe, a fresh one otherwise."""

from __future__ import annotations

import os
import re

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-Id"
SAFE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else could forge log lines or headers


def current() -> str:
    return g.get("request_id", "-") if has_request_context() else "-"


def _assign() -> None:
    offered = request.environ.get("HTTP_X_REQUEST_ID", "")
    g.request_id = offered if offered and SAFE.fullmatch(offered) else os.urandom(16).hex()


def _echo(response: Response) -> Response:
    response.headers[HEADER] = current()
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign)  # registered before auth, so even a refused request has an id
    app.after_request(_echo)
