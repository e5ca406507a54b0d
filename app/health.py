"""Service endpoints: the health check load balancers and operators poll."""

from __future__ import annotations

import logging

from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy.exc import SQLAlchemyError

from app.blueprint import Blueprint
from app.extensions import db

log = logging.getLogger(__name__)

blp = Blueprint("service", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "error"]})
    database = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable.")
    def get(self) -> tuple[dict[str, str], int]:
        """Whether the service can reach its database"""
        # A pooled connection, not the ORM session: this is all a probe needs.
        try:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            log.error("health check: database unavailable (%s)", exc.__class__.__name__)
            return {"status": "error", "database": "unavailable"}, 503
        return {"status": "ok", "database": "ok"}, 200
