"""REST service over a Tandem index (FastAPI)."""
from index.lazy_exports import lazy_exports

# Imported on first use: `tandem search --json` uses service.schemas without importing FastAPI.
__getattr__, __dir__ = lazy_exports(__name__, {"ServiceSettings": "app", "create_app": "app"})

__all__ = ["ServiceSettings", "create_app"]
