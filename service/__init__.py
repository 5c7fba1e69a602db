"""REST service over a Tandem index (FastAPI)."""
from tandem.index.lazy_exports import lazy_exports

# Imported on first use: `tandem search --json` uses tandem.service.schemas without importing FastAPI.
__getattr__, __dir__ = lazy_exports(__name__, {"ServiceSettings": "app", "create_app": "app"})

__all__ = ["ServiceSettings", "create_app"]
