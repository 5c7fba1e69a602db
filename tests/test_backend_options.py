"""`tandem index build --backend-option BACKEND.KEY=VALUE`: a backend's own build and default search
settings from the command line, checked by its settings model before anything is read or loaded."""
from __future__ import annotations

import pytest

from tandem.commands.index_cmd import with_backend_options
from tandem.cli import main
from tandem.index.errors import TandemError
from tandem.retrieval.backends.bmp_sparse import BmpConfig
from tandem.retrieval.backends.seismic_sparse import SeismicConfig
from tandem.retrieval.build import BuildConfig


def test_options_reach_the_backend_settings_and_keep_the_other_defaults():
    config = with_backend_options(BuildConfig(corpus="c"), ["seismic.summary_energy=0.6", "seismic.heap_factor=0.7", "bmp.block_size=16"])
    assert config.seismic == SeismicConfig(summary_energy=0.6, heap_factor=0.7)
    assert config.bmp == BmpConfig(block_size=16)
    assert BuildConfig(corpus="c").seismic is None  # the input config is not changed


@pytest.mark.parametrize("item, fragment", [
    ("faiss.type=flat", "no backend settings named 'faiss' (choose seismic, bmp)"),
    ("seismic.summary_energy=lots", "seismic.summary_energy: "),
    ("seismic.heap=0.5", "seismic.heap: "),
    ("seismic.summary_energy", "expected RETRIEVER.PARAMETER=VALUE"),
])
def test_wrong_options_are_one_line(item, fragment):
    with pytest.raises(TandemError) as caught:
        with_backend_options(BuildConfig(corpus="c"), [item])
    assert fragment in str(caught.value) and caught.value.where == "--backend-option"


def test_cli_refuses_a_bad_option_before_reading_the_corpus(tmp_path, capsys):
    code = main(["index", "build", "--corpus", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out"), "--backend-option", "bmp.block_sise=8"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tandem: error: --backend-option: bmp.block_sise: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
