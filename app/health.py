"""Service endpoints: the checks load balancers and operators poll, and the index at /.

/health is readiness (is the database reachable?); /health/live is liveness (does
the process answer?), for supervisors that restart a hung process but not one
whose database is down. A database that answered is trusted for one second, so a
storm of probes costs one query a second per worker; a failure is never remembered.
"""

from __future__ import annotations

import logging
import time

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.sansio.response import Response

from app.extensions import db
from app.platform.blueprint import Blueprint

log = logging.getLogger(__name__)
ANSWER_TRUSTED_SECONDS = 1.0
HEALTHY = {"status": "ok", "database": "ok"}
UNAVAILABLE = {"status": "error", "database": "unavailable"}

blp = Blueprint("service", __name__, description="Service health.")


class LivenessSchema(Schema):
    status = fields.String(metadata={"enum": ["ok"], "example": "ok"})


class IndexSchema(Schema):
    docs = fields.String(required=True, metadata={"example": "/docs"})
    openapi = fields.String(required=True, metadata={"example": "/openapi.json"})
    health = fields.String(required=True, metadata={"example": "/health"})


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "error"], "example": "ok"})
    database = fields.String(
        required=True, metadata={"enum": ["ok", "unavailable"], "example": "ok"}
    )


# Not strict: with it, Werkzeug answers `//` with a redirect to `/` (see app.platform.routing).
@blp.route("/", strict_slashes=False)
class Index(MethodView):
    @blp.response(200, IndexSchema)
    def get(self) -> dict[str, str]:
        """Where to start: the interactive docs, the OpenAPI document and the health check"""
        return {"docs": "/docs", "openapi": "/openapi.json", "health": "/health"}


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable.")
    def get(self) -> Response | tuple[Response, int, dict[str, str]]:
        """Whether the service can reach its database (readiness)

        The two answers are fixed, so they are written as they are, not
        dumped through HealthSchema (which documents them) on every probe.
        """
        if database_answers():
            return current_app.json.response(HEALTHY)
        return current_app.json.response(UNAVAILABLE), 503, {"Retry-After": "1"}


def database_answers() -> bool:
    """A query on a pooled connection (not the ORM session: this is all a probe needs)."""
    now = time.monotonic()
    if now - current_app.extensions.get("database_answered_at", -1e9) < ANSWER_TRUSTED_SECONDS:
        return True
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        log.error("health check: database unavailable (%s)", exc.__class__.__name__)
        return False
    current_app.extensions["database_answered_at"] = now
    return True


@blp.route("/health/live")
class Liveness(MethodView):
    @blp.response(200, LivenessSchema)
    def get(self) -> dict[str, str]:
        """Whether the process answers, without touching the database (liveness)"""
        return {"status": "ok"}
