"""Log lines: one JSON object each (or plain text), every one carrying the request id when there is one."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time

import msgspec
from flask import g, has_request_context
from gunicorn import glogging


def _request_id(record: logging.LogRecord) -> str:
    fields = getattr(record, "fields", {})
    if fields.get("request_id"):
        return fields["request_id"]
    return g.get("request_id", "-") if has_request_context() else "-"


# msgspec: a line in a microsecond, where the standard library took fifteen; what JSON cannot hold is written as str
_LINE = msgspec.json.Encoder(enc_hook=str)


@functools.lru_cache(maxsize=4)
def _second(epoch_second: int) -> str:
    """A log line's time, formatted once per second rather than once per line."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch_second))


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _second(int(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        try:
            return _LINE.encode(line).decode()
        except UnicodeEncodeError:  # a lone surrogate in a message: the standard library escapes it
            return json.dumps(line, default=str)


class Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, "") and k != "request_id")
        base = f"{self.formatTime(record)} {record.levelname} [{_request_id(record)}] "
        text = base + record.getMessage() + (f" {extra}" if extra else "")
        return text + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


class GunicornLogger(glogging.Logger):
    """gunicorn's logger in the gateway's format; no access lines (the gateway logs each request itself)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = JsonLines() if os.environ.get("GATEWAY_LOG_FORMAT", "json").strip().lower() != "text" else Text()
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time) -> None:
        pass


def configure_logging(log_format: str) -> None:
    """Send the gateway's loggers to stderr in the chosen format, once per process."""
    # No format here shows the caller, thread or process: logging's documented switches skip finding them
    # (a few microseconds per line, one line per request).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logger = logging.getLogger("gateway")
    if not logger.handlers:  # else someone else routes them: the `gateway` command holds them (commandline.py)
        handler = logging.StreamHandler(sys.stderr)
        handler.gateway = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    for handler in (h for h in logger.handlers if getattr(h, "gateway", False)):
        handler.setFormatter(JsonLines() if log_format == "json" else Text())
