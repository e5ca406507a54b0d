"""How gunicorn serves the app: its settings and its worker class (the Flask app is in app/)."""
