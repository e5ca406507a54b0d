from app import create_app
from app.platform.config import ConfigError

try:
    app = create_app(commands=False)
except ConfigError as error:  # gunicorn: one line naming the setting, not a traceback
    error.show()
    raise SystemExit(error.exit_code) from None
