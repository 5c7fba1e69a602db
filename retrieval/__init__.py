"""Encoders, model resolution, index building, search and fusion."""
from typing import TYPE_CHECKING

from tandem.index.lazy_exports import lazy_exports

_EXPORTS = {
    "BuildConfig": "build", "build_index": "build",
    "FUSION_METHODS": "fusion", "NORMALIZATIONS": "fusion", "FusionConfig": "fusion", "fuse": "fusion",
    "SHORT_NAMES": "models", "resolve_model": "models",
    "Searcher": "searcher",
    "Component": "types", "Hit": "types", "SearchResult": "types",
}
# Imported on first use: a sparse search must not import the build (models, torch) to reach the searcher.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .build import BuildConfig, build_index
    from .fusion import FUSION_METHODS, NORMALIZATIONS, FusionConfig, fuse
    from .models import SHORT_NAMES, resolve_model
    from .searcher import Searcher
    from .types import Component, Hit, SearchResult

__all__ = list(_EXPORTS)
