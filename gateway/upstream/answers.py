"""Google's answers that mean something other than their status says, as data with the evidence beside it
(shared/reference/v1internal-rules.md §6). upstream/errors.py's `classify` reads them; extend them here."""

from __future__ import annotations

import re

# 400 INVALID_ARGUMENT "The input token count exceeds the maximum number of tokens allowed 1048576.": Cloud Code
# adds up the input of every request of one `request.sessionId`; past 1,048,576 tokens the session answers only
# this, while the same body succeeds in a new session (Antigravity-Manager #3411, fix PR #3415, v4.7.0).
SESSION_FULL = ("input token count exceeds the maximum number of tokens allowed",)

# 400 FAILED_PRECONDITION "User location is not supported for the API use.": the egress's (IP address's)
# region, not the account (CLIProxyAPI #3999, Antigravity-Manager #3057 #3301, sub2api #6218).
GEO_BLOCK_STATUS = "FAILED_PRECONDITION"
GEO_BLOCK = ("User location is not supported for the API use",)

# 403 PERMISSION_DENIED "This service has been disabled in this account for violation of Terms of Service…" with
# an ErrorInfo whose metadata carries the appeal link (automazeio/vibeproxy #335); appeals usually restore the
# account in 24-48 h (antigravity-claude-proxy #277). Links of Google's appeal forms in the message count too.
APPEAL_METADATA = ("appeal_url", "appealUrl")
APPEAL_HOSTS = ("forms.gle", "support.google.com")
_URL = re.compile(r"https?://[^\s\"'<>)\]]+")


def says(message: str, phrases: tuple[str, ...]) -> bool:
    """Whether Google's message holds one of the phrases (case aside)."""
    lowered = message.lower()
    return any(phrase.lower() in lowered for phrase in phrases)


def appeal_url(message: str, details: list[dict]) -> str:
    """The ban appeal link of a 403: from ErrorInfo metadata, else an appeal form's URL in the message; or ""."""
    for detail in details:
        metadata = detail.get("metadata") if isinstance(detail.get("metadata"), dict) else {}
        for key in APPEAL_METADATA:
            if isinstance(metadata.get(key), str) and metadata[key].startswith(("https://", "http://")):
                return metadata[key]
    for url in _URL.findall(message):
        host = url.partition("://")[2].partition("/")[0].lower()
        if any(host == known or host.endswith("." + known) for known in APPEAL_HOSTS):
            return url.rstrip(".,;")
    return ""
