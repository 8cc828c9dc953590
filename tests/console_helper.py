"""Logging in to the console the way a browser does: read the form's CSRF token, post the key."""

from __future__ import annotations

import re

import requests

from tests.conftest import API_KEY, Gateway


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def console_session(gateway: Gateway, key: str = API_KEY) -> tuple[requests.Session, requests.Response]:
    """A session that went through /console/login with `key`, and the answer to its login."""
    session = requests.Session()
    form = session.get(gateway.url + "/console/login", timeout=10)
    answer = session.post(
        gateway.url + "/console/login", data={"key": key, "csrf_token": csrf_of(form.text)}, timeout=10
    )
    return session, answer


def page_token(session: requests.Session, gateway: Gateway) -> str:
    """The CSRF token of the console page, which its buttons send."""
    page = session.get(gateway.url + "/console", timeout=10)
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
