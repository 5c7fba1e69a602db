"""Size limits shared by the corpus reader, the index builders and the REST service (one place each)."""
from __future__ import annotations

from pathlib import Path

# Longest document id accepted at build time. Longer ids could be indexed but not fetched over REST
# (``GET /documents/{id}``: proxies and servers cap the request line), so the corpus reader refuses them.
MAX_DOC_ID_CHARS = 512

# Longest query accepted anywhere (CLI, Python API, REST): long enough for argument-retrieval queries
# (ArguAna's are up to a few thousand characters); the service may set a lower limit of its own.
MAX_QUERY_CHARS = 4096


def available_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The kernel's estimate of memory available to a new allocation without swapping (``MemAvailable``),
    or None where it cannot be read (not Linux): callers then skip their memory checks."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
