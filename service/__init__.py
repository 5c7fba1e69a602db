"""REST service over a Tandem index (FastAPI)."""
from .app import ServiceSettings, create_app

__all__ = ["ServiceSettings", "create_app"]
