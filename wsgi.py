from app import create_app
from app.platform.config import ConfigError
from app.platform.startup import exit_with_message

try:
    app = create_app(commands=False)
except ConfigError as error:
    exit_with_message(error)
