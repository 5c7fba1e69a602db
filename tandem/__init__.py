"""Tandem: hybrid sparse + dense retrieval engine (command-line entry point in ``tandem.cli``)."""
from pathlib import Path as _Path

from ._source_tree import install as _install_source_tree

__version__ = "0.2.0"
_install_source_tree(_Path(__file__).parent)  # in a checkout, tandem.index etc. are the folders beside tandem/
