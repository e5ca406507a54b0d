"""The least any app on the required stack can be: served beside ours in `make bench`.

One flask-smorest view with a marshmallow response schema, behind
flask-jwt-extended's `jwt_required`, reading one row with one Core statement
through Flask-SQLAlchemy; bcrypt imported as the stack hashes passwords with
it. No request log, metrics, rate limits, sessions or revocation. Its memory
and speed beside the bare view show what the stack alone costs before any of
the API's own code runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import bcrypt  # noqa: F401  (part of the required stack's import footprint)
from flask import Flask
from flask.views import MethodView
from flask_jwt_extended import JWTManager, create_access_token, get_jwt_identity, jwt_required
from flask_smorest import Api, Blueprint
from flask_sqlalchemy import SQLAlchemy
from marshmallow import Schema, fields
from sqlalchemy import Row, insert, select
from sqlalchemy.orm import Mapped, mapped_column

OWNER = "floor"
ITEM_ID = 1

db = SQLAlchemy()
items = Blueprint("items", __name__)


class Item(db.Model):  # type: ignore[name-defined]
    __tablename__ = "floor_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str]
    title: Mapped[str]


class ItemSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)


@items.route("/items/<int:item_id>")
class ItemById(MethodView):
    @jwt_required()
    @items.response(200, ItemSchema)
    def get(self, item_id: int) -> Row[tuple[int, str]]:
        table = Item.__table__
        statement = select(table.c.id, table.c.title).where(
            table.c.id == item_id, table.c.owner == get_jwt_identity()
        )
        return db.session.execute(statement).one()


def create_app(env: Mapping[str, str] = os.environ) -> Flask:
    """The app on STACK_FLOOR_DATABASE_URL, its table made and its one item stored."""
    app = Flask(__name__)
    app.config.update(
        API_TITLE="stack floor",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        SQLALCHEMY_DATABASE_URI=env["STACK_FLOOR_DATABASE_URL"],
        JWT_SECRET_KEY=env["SECRET_KEY"],
    )
    db.init_app(app)
    JWTManager(app)
    Api(app).register_blueprint(items)
    app.add_url_rule("/health", "health", lambda: {"status": "ok"})
    with app.app_context():
        db.create_all()
        if db.session.get(Item, ITEM_ID) is None:
            db.session.execute(insert(Item).values(id=ITEM_ID, owner=OWNER, title="Buy milk"))
            db.session.commit()
    return app


def access_token(env: Mapping[str, str]) -> str:
    """A token the served app accepts: made by the same app on the same settings."""
    with create_app(env).app_context():
        return create_access_token(OWNER)
