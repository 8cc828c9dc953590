"""A self-hosted Gemini API gateway over a pool of Google accounts (Cloud Code Assist v1internal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from .config import Settings

MAX_BODY = 20 * 1024 * 1024  # Gemini's own request size limit


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the WSGI app; `config` is a Settings or a mapping of GATEWAY_* variables (default: environ)."""
    from . import auth, cli, cors, errors, request_id, trace
    from .api import generate, health, metrics, models
    from .config import Settings
    from .console import views as console
    from .services import Services

    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["gateway"] = Services(settings)
    errors.init_app(app)
    request_id.init_app(app)
    trace.init_app(app, settings.log_format)  # before auth: refused requests are logged too
    cors.init_app(app)  # before auth: preflights carry no key
    auth.init_app(app)
    cli.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(console.bp)
    # Google serves both versions; google-genai 3.x defaults to v1, older SDKs to v1beta.
    for prefix in ("/v1beta", "/v1"):
        name = prefix.strip("/")
        app.register_blueprint(models.bp, url_prefix=prefix, name=f"models_{name}")
        app.register_blueprint(generate.bp, url_prefix=prefix, name=f"generate_{name}")
    return app
