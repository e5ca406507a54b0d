from app import create_app
from app.config import ConfigError
from app.startup import exit_with_message

try:
    app = create_app(commands=False)
except ConfigError as error:
    exit_with_message(error)
