"""Image models and their id suffixes (translate/images.py, translate/suffixes.py)."""

import pytest

from gateway.upstream.translate import Target
from gateway.upstream.translate.images import image_gen
from gateway.upstream.translate.suffixes import bare_model, image_suffixes


def image_body(**config) -> dict:
    """What google-genai sends for an image request with a system prompt, tools and modalities set."""
    return {
        "contents": [{"role": "user", "parts": [{"text": "A lighthouse at dusk"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "You draw."}]},
        "tools": [{"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "responseMimeType": "text/plain", **config},
    }


@pytest.mark.parametrize(
    ("model", "bare", "config"),
    [
        (
            "gemini-3-pro-image-preview-16x9-4k",
            "gemini-3-pro-image-preview",
            {"aspectRatio": "16:9", "imageSize": "4K"},
        ),
        ("gemini-3-pro-image-4k-9x16", "gemini-3-pro-image", {"aspectRatio": "9:16", "imageSize": "4K"}),
        ("gemini-2.5-flash-image-21x9", "gemini-2.5-flash-image", {"aspectRatio": "21:9"}),
        ("gemini-3.1-flash-image-2K", "gemini-3.1-flash-image", {"imageSize": "2K"}),
        ("gemini-3-pro-image", "gemini-3-pro-image", {}),
    ],
)
def test_suffixes_are_read_and_stripped(model, bare, config):
    assert image_suffixes(model) == (bare, config)
    assert bare_model(model) == bare


def test_bare_model_strips_online_and_leaves_other_ids_alone():
    assert bare_model("gemini-2.5-flash-online") == "gemini-2.5-flash"
    assert bare_model("gemini-2.5-pro-1x1") == "gemini-2.5-pro-1x1"  # not an image model: not a setting


def test_image_requests_lose_what_image_gen_refuses_and_get_image_config():
    body, target = image_body(), Target("gemini-3-pro-image-preview-16x9-4k")
    image_gen(body, target)
    assert target.model == "gemini-3-pro-image-preview"
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "A lighthouse at dusk"}]}],
        "generationConfig": {"imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"}},
    }


def test_the_bodys_own_image_config_wins_over_the_suffixes():
    body = image_body(imageConfig={"aspectRatio": "1:1"})
    image_gen(body, Target("gemini-3-pro-image-16x9-2k"))
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
    snake = {"contents": [], "generation_config": {"image_config": {"aspect_ratio": "4:3"}, "response_modalities": []}}
    image_gen(snake, Target("gemini-3-pro-image-16x9"))
    assert snake == {"contents": [], "generation_config": {"image_config": {"aspect_ratio": "4:3"}}}


def test_suffixes_without_a_generation_config():
    body = {"contents": [], "system_instruction": {"parts": [{"text": "x"}]}}
    image_gen(body, Target("gemini-3-pro-image-3x2"))
    assert body == {"contents": [], "generationConfig": {"imageConfig": {"aspectRatio": "3:2"}}}


def test_other_models_are_left_alone():
    body, target = image_body(), Target("gemini-2.5-flash")
    image_gen(body, target)
    assert body == image_body() and target.model == "gemini-2.5-flash"
