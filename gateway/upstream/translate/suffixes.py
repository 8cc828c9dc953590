"""Settings written into a model id as suffixes (Antigravity-Manager's convention), and the bare id under them.

`gemini-3-pro-image-preview-16x9-4k` asks for 16:9 pictures at 4K; `gemini-2.5-flash-online` for Google Search
grounding. Upstream knows only the bare ids, so these suffixes are read here and stripped before sending.
"""

from __future__ import annotations

ONLINE = "-online"
IMAGE_MARKER = "-image"
ASPECT_RATIOS = {
    f"-{w}x{h}": f"{w}:{h}"
    for w, h in ((16, 9), (9, 16), (4, 3), (3, 4), (3, 2), (2, 3), (5, 4), (4, 5), (21, 9), (1, 1))
}
IMAGE_SIZES = {"-2k": "2K", "-4k": "4K"}


def image_suffixes(model: str) -> tuple[str, dict[str, str]]:
    """(the id without its image suffixes, the imageConfig they ask for), in whatever order they come."""
    config: dict[str, str] = {}
    while True:
        head, dash, tail = model.rpartition("-")
        suffix = dash + tail.lower()
        if head and suffix in ASPECT_RATIOS and "aspectRatio" not in config:
            config["aspectRatio"] = ASPECT_RATIOS[suffix]
        elif head and suffix in IMAGE_SIZES and "imageSize" not in config:
            config["imageSize"] = IMAGE_SIZES[suffix]
        else:
            return model, config
        model = head


def bare_model(model: str) -> str:
    """The id upstream knows: `-online` and, on image models, the picture suffixes removed."""
    model = model.removesuffix(ONLINE)
    return image_suffixes(model)[0] if IMAGE_MARKER in model else model
