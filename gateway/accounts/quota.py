"""What each account can serve, and how much of it is left: fetchAvailableModels."""

from __future__ import annotations

from ..upstream.client import UpstreamClient

# Antigravity keeps only these families (antigravity-gemini-spec §12.4).
MODEL_PREFIXES = ("gemini", "claude", "gpt", "image", "imagen")


def fetch_models(client: UpstreamClient, token: str, project: str) -> dict[str, dict]:
    """Model id -> limits and remaining quota, as far as upstream tells."""
    payload = client.call("fetchAvailableModels", token, {"project": project} if project else {}).json()
    models = {}
    for model_id, info in (payload.get("models") or {}).items():
        if not model_id.startswith(MODEL_PREFIXES) or not isinstance(info, dict):
            continue
        quota = info.get("quotaInfo") or {}
        models[model_id] = {
            key: value
            for key, value in {
                "displayName": info.get("displayName"),
                "inputTokenLimit": info.get("maxTokens"),
                "outputTokenLimit": info.get("maxOutputTokens"),
                "thinking": info.get("supportsThinking"),
                # Google omits the fraction once a model is used up.
                "remainingFraction": quota.get("remainingFraction", 0.0 if quota else None),
                "resetTime": quota.get("resetTime"),
            }.items()
            if value is not None
        }
    for old, new in (payload.get("deprecatedModelIds") or {}).items():
        if isinstance(new, dict) and new.get("newModelId"):
            models.setdefault(old, {})["aliasOf"] = new["newModelId"]
    return models
