"""Find an account's Cloud Code project: loadCodeAssist, and onboardUser for a new free-tier account."""

from __future__ import annotations

import time

from ..upstream.client import UpstreamClient

# What gemini-cli sends (packages/core/src/code_assist/setup.ts).
METADATA = {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
POLL_INTERVAL = 2.0
POLL_LIMIT = 60.0


class NoProject(Exception):
    """Google will not give this account a project (ineligible tier, verification needed, ...)."""


def discover(client: UpstreamClient, token: str) -> tuple[str, str]:
    """The account's (project, tier); onboards a fresh account onto its default tier first."""
    info = client.call("loadCodeAssist", token, {"metadata": METADATA}).json()
    current = info.get("currentTier") or {}
    if current:
        project = _project_id(info.get("cloudaicompanionProject"))
        if not project:
            raise NoProject(_ineligible(info) or "loadCodeAssist returned no project for this account")
        return project, str((info.get("paidTier") or current).get("id", ""))
    allowed = info.get("allowedTiers") or []
    tier = next((t.get("id") for t in allowed if t.get("isDefault")), None) or "legacy-tier"
    # The free tier must not name a project: Google creates a managed one (FAILED_PRECONDITION otherwise).
    operation = client.call("onboardUser", token, {"tierId": tier, "metadata": METADATA}).json()
    deadline = time.monotonic() + POLL_LIMIT
    while not operation.get("done"):
        if time.monotonic() > deadline:
            raise NoProject("onboarding did not finish in time; try again later")
        time.sleep(POLL_INTERVAL)
        operation = client.get_operation(operation["name"], token)
    project = _project_id((operation.get("response") or {}).get("cloudaicompanionProject"))
    if not project:
        raise NoProject(_ineligible(info) or "onboarding finished without a project")
    return project, tier


def _project_id(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value or "")


def _ineligible(info: dict) -> str:
    reasons = [
        " ".join(filter(None, (t.get("reasonCode"), t.get("reasonMessage"), t.get("validationUrl"))))
        for t in info.get("ineligibleTiers") or ()
    ]
    return "; ".join(reasons)
