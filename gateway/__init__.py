"""A self-hosted Gemini API gateway over a pool of Google accounts (Cloud Code Assist v1internal)."""

from __future__ import annotations

from flask import Flask

MAX_BODY = 20 * 1024 * 1024  # Gemini's own request size limit


def create_app(config=None) -> Flask:
    """Build the WSGI app; `config` is a Settings or a mapping of GATEWAY_* variables (default: environ)."""
    from . import auth, cli, errors, request_id
    from .api import generate, health, models
    from .config import Settings
    from .services import Services

    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["gateway"] = Services(settings)
    for part in (errors, request_id, auth, cli):
        part.init_app(app)
    app.register_blueprint(health.bp)
    # Google serves both versions; google-genai 3.x defaults to v1, older SDKs to v1beta.
    for prefix in ("/v1beta", "/v1"):
        name = prefix.strip("/")
        app.register_blueprint(models.bp, url_prefix=prefix, name=f"models_{name}")
        app.register_blueprint(generate.bp, url_prefix=prefix, name=f"generate_{name}")
    return app
