"""Encoders, model resolution, index building, search and fusion."""
from .build import BuildConfig, build_index
from .fusion import FUSION_METHODS, NORMALIZATIONS, FusionConfig, fuse
from .models import SHORT_NAMES, resolve_model
from .searcher import Searcher
from .types import Component, Hit, SearchResult

__all__ = [
    "BuildConfig",
    "build_index",
    "FUSION_METHODS",
    "NORMALIZATIONS",
    "FusionConfig",
    "fuse",
    "SHORT_NAMES",
    "resolve_model",
    "Searcher",
    "Component",
    "Hit",
    "SearchResult",
]
