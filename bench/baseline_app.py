"""The ceiling for any Flask app here: a bare view returning constant JSON."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def constant() -> dict[str, str]:
    """A small constant JSON body, serialized by Flask like the API's."""
    return {"status": "ok"}
