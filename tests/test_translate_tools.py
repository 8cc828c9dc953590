"""Google Search: the -online suffix and the search + functions conflict (translate/tools.py)."""

import pytest

from gateway.errors import GatewayError
from gateway.upstream.translate import Target
from gateway.upstream.translate.tools import online, search_conflict

FUNCTIONS = {"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}


def test_online_adds_google_search_and_strips_the_suffix():
    body, target = {"contents": []}, Target("gemini-2.5-flash-online")
    online(body, target)
    assert target.model == "gemini-2.5-flash" and body["tools"] == [{"googleSearch": {}}]


def test_online_keeps_the_clients_tools_and_adds_search_once():
    body, target = {"tools": [{"codeExecution": {}}, {"google_search": {}}]}, Target("gemini-3-pro-high-online")
    online(body, target)
    assert body["tools"] == [{"codeExecution": {}}, {"google_search": {}}] and target.model == "gemini-3-pro-high"
    plain = {"tools": [{"codeExecution": {}}]}
    online(plain, Target("gemini-2.5-flash"))
    assert plain == {"tools": [{"codeExecution": {}}]}


@pytest.mark.parametrize("search", ["googleSearch", "google_search", "googleSearchRetrieval"])
def test_search_with_functions_is_refused_naming_the_conflict(search):
    with pytest.raises(GatewayError) as caught:
        search_conflict({"tools": [{search: {}}, FUNCTIONS]}, Target("gemini-2.5-flash"))
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert "googleSearch" in caught.value.message and "functionDeclarations" in caught.value.message


def test_search_alone_or_functions_alone_pass():
    for tools in ([{"googleSearch": {}}], [FUNCTIONS], [{"googleSearch": {}, "functionDeclarations": []}], None):
        search_conflict({"tools": tools}, Target("gemini-2.5-flash"))
