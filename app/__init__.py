"""Application factory: read top to bottom, it is the table of contents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask, Response

from app import observability
from app.auth import rate_limits, spent_tokens, token_check
from app.extensions import api, cors, db
from app.observability import metrics
from app.platform import database, docs, errors, mail, routing
from app.platform.config import FIXED_SETTINGS, ConfigError, from_environment
from app.platform.cookie_sessions import NoSessions
from app.platform.json_encoding import CompactJSONProvider
from app.platform.secret_key import resolve_secret_key

API_PREFIX = "/api/v1"
CORS_EXPOSED_HEADERS = [
    "X-Pagination",
    "X-Next-Cursor",
    "ETag",
    "Location",
    "Retry-After",
    "X-Request-ID",
]


class SyncFlask(Flask):
    """Flask for views that are all plain functions, as WSGI serves them.

    Flask asks of every view and decorator, on every call, whether it is a
    coroutine function; none here is, and asking costs more per request than
    a bare view's own work.
    """

    json_provider_class = CompactJSONProvider

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func


def create_app(test_config: dict[str, Any] | None = None, *, commands: bool = True) -> Flask:
    """Build the app from the environment, overridden by `test_config`.

    The served app (wsgi.py) leaves out the `flask` commands: a worker then
    never loads Flask-Migrate, Alembic or the import code.
    """
    try:
        return build_app(test_config, commands)
    except ConfigError as error:
        if click.get_current_context(silent=True) is None:
            raise
        # Loaded by `flask`, which prints a traceback for any error but its own
        # while it lists the commands (`flask --help`): one line, and stop.
        error.show()
        raise SystemExit(error.exit_code) from None


def build_app(test_config: dict[str, Any] | None, commands: bool) -> Flask:
    app = SyncFlask(__name__, instance_relative_config=True, static_folder=None)
    configure(app, test_config)
    routing.init_app(app)
    register_extensions(app)
    observability.init_app(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_response_headers(app)
    if commands:
        register_commands(app)
    return app


def configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.update(FIXED_SETTINGS)
    app.config.update(from_environment())
    app.config.update(test_config or {})
    app.config["SECRET_KEY"] = resolve_secret_key(
        app.config["SECRET_KEY"], app.config["APP_ENV"], app.instance_path
    )
    app.config["JWT_SECRET_KEY"] = app.config["SECRET_KEY"]
    app.session_interface = NoSessions()


def register_extensions(app: Flask) -> None:
    database.init_app(app)
    docs.init_app(app)
    api.init_app(app, spec_kwargs=docs.SPEC_KWARGS)
    token_check.init_app(app)  # flask-jwt-extended, bound to our token rules
    spent_tokens.init_app(app)
    rate_limits.init_app(app)
    mail.init_app(app)
    if app.config["CORS_ORIGINS"]:
        register_cors(app)


def register_cors(app: Flask) -> None:
    """Only the configured origins; with none, no CORS work on any request."""
    cors.init_app(
        app,
        origins=app.config["CORS_ORIGINS"],
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_headers=["Authorization", "Content-Type", "If-Match"],
        max_age=600,
        vary_header=False,  # set on every response below, not only some
    )


def register_blueprints(app: Flask) -> None:
    """Every resource answers under /api/v1 and, for old clients, unversioned.

    The docs list the tags in this order: the resources first, the service last.
    """
    from app import admin, auth, health, items, pages
    from app.pages import account as account_page

    for blueprint, path in ((auth.blp, "/auth"), (items.blp, "/items")):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + path)
        app.register_blueprint(blueprint, name=f"unversioned_{blueprint.name}", url_prefix=path)
    api.register_blueprint(admin.blp, url_prefix=API_PREFIX + "/admin")
    api.register_blueprint(health.blp)
    app.register_blueprint(pages.blp)  # the pages mail links open: HTML, not in the API docs
    app.register_blueprint(account_page.blp)  # the account page and its script
    # Off (404) without METRICS_TOKEN, and then left out of the docs.
    (api if app.config["METRICS_TOKEN"] else app).register_blueprint(metrics.blp)


def register_errorhandlers(app: Flask) -> None:
    # After api.init_app, so ours replace flask-smorest's HTTPException handler.
    errors.init_app(app)


def register_response_headers(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        if app.config["CORS_ORIGINS"]:
            # CORS headers depend on Origin even when it is refused; tell caches.
            response.vary.add("Origin")
        return response


def register_commands(app: Flask) -> None:
    """`flask users`, `flask mail`, `flask db` (migrations), `flask import-json`/`export-json`,
    `flask seed-demo`, `flask shell`."""
    from flask_migrate import Migrate

    from app import cli, demo, transfer
    from app.models import Item, User
    from app.platform.mail_commands import mail_commands

    # Batch mode lets migrations alter tables on SQLite too.
    Migrate(app, db, render_as_batch=True, compare_type=True)
    app.cli.add_command(cli.users)
    app.cli.add_command(mail_commands)
    app.cli.add_command(transfer.import_json)
    app.cli.add_command(transfer.export_json)
    app.cli.add_command(demo.seed_demo)
    app.shell_context_processor(lambda: {"db": db, "User": User, "Item": Item})
