"""The one checksum helper, under both of its names."""
import hashlib

from tandem.index import checksums, corpus


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB chunk
    path.write_bytes(data)
    assert checksums.sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert checksums.sha256_file(path, chunk_size=7) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert checksums.sha256_file(empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_corpus_name_is_the_same_helper():
    assert corpus.file_sha256 is checksums.sha256_file
