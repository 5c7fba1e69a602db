"""Tandem: hybrid sparse + dense retrieval engine (command-line entry point in ``tandem.cli``)."""
__version__ = "0.2.0"
