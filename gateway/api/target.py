"""The `models/<id>[:method]` part of a path, parsed the way Google parses it."""

from __future__ import annotations

import re

from ..catalog import Catalog
from ..errors import GatewayError

MODEL_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
METHODS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
# Gemini API features Cloud Code Assist has no counterpart for: 501 naming the feature, never a bare 404.
FEATURES = {
    "cachedContents": "Context caching",
    "batches": "The Batch API",
    "tunedModels": "Tuned models",
    "embedContent": "Embeddings",
    "batchEmbedContents": "Embeddings",
    "asyncBatchEmbedContent": "Embeddings",
    "predict": "Prediction (Imagen, Veo)",
    "predictLongRunning": "Prediction (Imagen, Veo)",
    "batchGenerateContent": "The Batch API",
}
COLLECTIONS = ("cachedContents", "batches", "tunedModels")  # the path segments among FEATURES


def split_target(target: str) -> tuple[str, str]:
    """(model, method) from the path after `models/`: last segment split at its last `:`.

    Tolerates a doubled `models/` prefix (a `name` copied from the model list) and the slash form
    `<id>/countTokens`; URL-encoded colons arrive decoded.
    """
    if target.startswith("models/"):
        target = target[len("models/") :]
    if target.endswith("/countTokens"):
        return target[: -len("/countTokens")], "countTokens"
    model, _, method = target.rpartition(":")
    return (model, method) if model else (target, "")


def check_model_id(model: str) -> str:
    if not MODEL_ID.fullmatch(model):
        raise GatewayError(400, "Invalid model name: use letters, digits, '.', '-' and '_' only.")
    return model


def resolve(catalog: Catalog, model: str, method: str = "generateContent", level: str | None = None) -> str:
    """The upstream id for a client model id, or Google's 404.

    Settings written as suffixes (`-online`, `-16x9-4k` on image models) ride on the resolved id, for
    translation to read and strip (Catalog.serve); `level`, the thinking level asked for, picks a tier."""
    upstream = catalog.serve(check_model_id(model), level)
    if upstream is None:
        alias = catalog.aliases.resolve(model)
        via = f" (GATEWAY_MODEL_ALIASES sends it to {alias}, which no account serves)" if alias != model else ""
        raise GatewayError(
            404,
            f"models/{model} is not found for API version v1beta{via}, or is not supported for {method}. "
            "Call ListModels to see the list of available models and their supported methods.",
        )
    return upstream


def check_method(method: str) -> str:
    if method in METHODS:
        return method
    if method in FEATURES:
        raise unsupported(method)
    raise GatewayError(404, f"Method not found: {method or '(none)'}.")


def unsupported(feature: str) -> GatewayError:
    return GatewayError(
        501,
        f"{FEATURES[feature]} ({feature}): not supported by this gateway, as Cloud Code Assist, "
        "which serves its requests, has no such feature.",
    )
