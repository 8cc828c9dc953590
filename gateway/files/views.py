"""The Files API's routes: uploads under /upload<prefix>/files, get/list/delete under every version prefix."""

from __future__ import annotations

import base64
import binascii
import datetime
import re

from flask import Blueprint, Response, g, request

from .. import VERSION_PREFIXES
from ..errors import GatewayError, json_response
from ..services import services
from . import access
from .multipart import file_member, invalid
from .store import StoredFile, Upload
from .uploads import BUSY

bp = Blueprint("files", __name__)
upload_bp = Blueprint("file_uploads", __name__)

CHUNK_GRANULARITY = "262144"  # what Google's start answers: chunks (but the last) are multiples of 256 KiB
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 10, 100  # Google's files.list
UPLOAD_PATH = re.compile("/upload(" + "|".join(re.escape(p) for p in VERSION_PREFIXES if p) + ")?/files")
STATUS = "X-Goog-Upload-Status"


def step_upload() -> Upload | None:
    """The live upload an upload step names (None: the request is no upload step), kept on `g` for the view.

    The upload URL is the credential of the steps after `start`, which google-genai sends without a key (the auth
    hook asks here first): one naming no live upload is refused as Google refuses it, key or no key, 400."""
    if "upload_id=" not in request.environ.get("QUERY_STRING", "") or not UPLOAD_PATH.fullmatch(request.path):
        return None
    if "upload" not in g:
        g.upload = services().files.upload(request.args.get("upload_id", ""))
    if g.upload is None:
        raise invalid("Unknown or expired upload URL: start the upload again.")
    return g.upload


@upload_bp.route("/files", methods=["POST", "PUT"])
def upload() -> Response:
    if (upload := step_upload()) is not None:
        return upload_step(upload)
    protocol = request.headers.get("X-Goog-Upload-Protocol", request.args.get("uploadType", "")).lower()
    if protocol == "resumable":
        return start()
    if protocol == "multipart":
        stored = services().uploads.multipart(
            access.owner(), request.content_type or "", request.environ["wsgi.input"], request.content_length
        )
        return json_response({"file": resource(stored)}, headers={STATUS: "final"})
    raise invalid("Send X-Goog-Upload-Protocol: resumable (then the returned upload URL) or multipart.")


def start() -> Response:
    command = request.headers.get("X-Goog-Upload-Command", "").strip().lower()
    if command != "start":
        raise invalid(f"A resumable upload begins with X-Goog-Upload-Command: start, not {command!r}.")
    body = request.get_json(silent=True)
    upload = services().uploads.start(
        access.owner(),
        file_member(body) if isinstance(body, dict) else {},
        request.headers.get("X-Goog-Upload-Header-Content-Length"),
        request.headers.get("X-Goog-Upload-Header-Content-Type"),
    )
    # The SDKs send the next steps to this URL: @google/genai with its own baseUrl's scheme and host, google-genai
    # 3.6 as written (unless the upload's own http_options name a base_url), so it is the URL the client came in
    # by (behind nginx: the site passes Host with its port). The upload id rides in the query, as Google's does.
    url = f"{request.base_url}?upload_id={upload.id}&upload_protocol=resumable"
    headers = {"X-Goog-Upload-URL": url, STATUS: "active", "X-Goog-Upload-Chunk-Granularity": CHUNK_GRANULARITY}
    return Response(status=200, headers=headers)


def upload_step(upload: Upload) -> Response:
    uploads = services().uploads
    try:
        stored = uploads.step(
            upload,
            request.headers.get("X-Goog-Upload-Command", ""),
            request.headers.get("X-Goog-Upload-Offset"),
            request.environ["wsgi.input"],
            request.content_length,
        )
    except GatewayError as error:
        if error.status != BUSY:  # a refused step ends its upload, unless refused for another chunk still running
            uploads.forget(upload.id)
        raise
    except BaseException:
        uploads.forget(upload.id)
        raise
    if isinstance(stored, StoredFile):
        return json_response({"file": resource(stored)}, headers={STATUS: "final"})
    if stored is None:
        return Response(status=200, headers={STATUS: "cancelled"})
    return Response(status=200, headers={STATUS: "active", "X-Goog-Upload-Size-Received": str(stored)})


@upload_bp.after_request
def final_unless_said(response: Response) -> Response:
    """Every answer on the upload URL says the upload's status: without one the SDKs retry a refused chunk
    three times (google-genai `_upload_fd`, @google/genai `uploadBlobInternal`), so a refusal says `final`."""
    response.headers.setdefault(STATUS, "final")
    return response


@bp.get("/files")
def list_files() -> Response:
    size = _page_size(request.args.get("pageSize", request.args.get("page_size")))
    start = _page_start(request.args.get("pageToken", request.args.get("page_token")))
    files = [f for f in services().files.all() if access.visible(f)]
    page = files[start : start + size]
    body: dict = {"files": [resource(f) for f in page]} if page else {}
    if start + size < len(files):
        body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return json_response(body)


@bp.get("/files/<file_id>")
def get_file(file_id: str) -> Response:
    return json_response(resource(access.readable(services().files, file_id)))


@bp.delete("/files/<file_id>")
def delete_file(file_id: str) -> Response:
    store = services().files
    store.delete(access.readable(store, file_id).id)
    return json_response({})


def resource(stored: StoredFile) -> dict:
    """Google's `File` resource; its `uri` is the gateway's own URL of it, as the client reached the gateway."""
    created = _timestamp(stored.created)
    return {
        "name": f"files/{stored.id}",
        **({"displayName": stored.display_name} if stored.display_name else {}),
        "mimeType": stored.mime_type,
        "sizeBytes": str(stored.size),
        "createTime": created,
        "updateTime": created,
        "expirationTime": _timestamp(stored.expires),
        "sha256Hash": stored.sha256,
        "uri": f"{request.host_url}v1beta/files/{stored.id}",
        "state": "ACTIVE",
        "source": "UPLOADED",
    }


def _timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with microseconds, as Google writes a Timestamp."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE_SIZE
    if not value.isdigit():
        raise invalid(f"pageSize must be a positive number, not {value!r}.")
    return min(int(value), MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        start = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        start = ""
    if not start.isdigit():
        raise invalid("Invalid pageToken: pass the nextPageToken of the previous page.")
    return int(start)
