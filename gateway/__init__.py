"""A self-hosted Gemini API gateway over a pool of Google accounts (Cloud Code Assist v1internal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from .config import Settings

__version__ = "0.2.0"  # the one place the version lives: setup.cfg and `gateway --version` read it
MAX_BODY = 20 * 1024 * 1024  # Gemini's own request size limit
VERSION_PREFIXES = ("/v1beta", "/v1", "/v1alpha", "")


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the WSGI app; `config` is a Settings or a mapping of GATEWAY_* variables (default: environ)."""
    from . import auth, capacity, cors, errors, request_id, trace
    from .api import generate, health, metrics, models, unsupported
    from .config import Settings
    from .console import views as console
    from .files import views as files
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
    capacity.init_app(app)  # outermost: a full worker answers before any other work
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(console.bp)
    # Google serves several versions; google-genai 3.x defaults to v1, older SDKs to v1beta. Without a prefix
    # (LiteLLM with a bare api_base) paths answer as /v1beta does.
    for prefix in VERSION_PREFIXES:
        name = prefix.strip("/") or "bare"
        app.register_blueprint(models.bp, url_prefix=prefix, name=f"models_{name}")
        app.register_blueprint(generate.bp, url_prefix=prefix, name=f"generate_{name}")
        app.register_blueprint(files.bp, url_prefix=prefix, name=f"files_{name}")
        app.register_blueprint(files.upload_bp, url_prefix=f"/upload{prefix}", name=f"file_uploads_{name}")
        app.register_blueprint(unsupported.bp, url_prefix=prefix, name=f"unsupported_{name}")
        app.register_blueprint(unsupported.bp, url_prefix=f"/upload{prefix}", name=f"upload_{name}")
    return app
