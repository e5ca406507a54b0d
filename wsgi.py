from app import create_app
from app.platform.config import ConfigError

try:
    app = create_app(commands=False)
except ConfigError as error:  # gunicorn: one line naming the setting, not a traceback
    error.show()
    # 3 is gunicorn's "worker failed to boot": a server that loads the app in
    # each worker (deploy/gunicorn.prod.py) stops, instead of forking forever.
    raise SystemExit(3) from None
