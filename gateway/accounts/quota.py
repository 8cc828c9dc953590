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


def fetch_quota_groups(client: UpstreamClient, token: str, project: str) -> list[dict]:
    """The account's quota buckets by group (the 5-hour and weekly windows), as retrieveUserQuotaSummary tells."""
    payload = client.call("retrieveUserQuotaSummary", token, {"project": project} if project else {}).json()
    groups = []
    for group in payload.get("groups") or ():
        if not isinstance(group, dict):
            continue
        buckets = [
            {key: bucket[key] for key in ("window", "remainingFraction", "resetTime", "displayName") if key in bucket}
            for bucket in group.get("buckets") or ()
            if isinstance(bucket, dict) and isinstance(bucket.get("remainingFraction"), int | float)
        ]
        if buckets:
            groups.append({"displayName": str(group.get("displayName") or ""), "buckets": buckets})
    return groups
