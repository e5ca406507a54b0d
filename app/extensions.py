"""Unbound extension objects; create_app() binds them to the application."""

from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_mailman import Mail
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from app.platform.connection import RequestSession


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


# Objects stay usable after commit so views can serialize what they saved
# without reloading it.
db = SQLAlchemy(
    model_class=Base,
    session_options={"class_": RequestSession, "expire_on_commit": False},
)
api = Api()
jwt = JWTManager()
cors = CORS()
limiter = Limiter(key_func=get_remote_address)
mail = Mail()
