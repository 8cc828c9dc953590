"""Google's two Python SDKs pointed at a gateway (or any stand-in for Google), as the tests use them."""

import warnings

from google import genai
from google.genai import types

from tests.conftest import API_KEY

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # google-generativeai and its google.api_core announce deprecations on import
    import google.generativeai as legacy
    from google.api_core import exceptions as legacy_errors

__all__ = ["genai_client", "legacy", "legacy_errors", "point_legacy_at"]


def genai_client(url: str, api_key: str = API_KEY, **http_options: object) -> genai.Client:
    """A google-genai client sending to this url."""
    return genai.Client(api_key=api_key, http_options=types.HttpOptions(base_url=url, **http_options))


def point_legacy_at(url: str, api_key: str = API_KEY) -> None:
    """Configure google-generativeai (process-wide) to send REST requests to this url."""
    legacy.configure(api_key=api_key, transport="rest", client_options={"api_endpoint": url})
