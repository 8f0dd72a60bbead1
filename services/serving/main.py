"""The module-level app for `uvicorn services.serving.main:app` (settings from the environment)."""

from services.serving.app import create_app

app = create_app()
