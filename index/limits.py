"""Size limits shared by the corpus reader, the index builders and the REST service (one place each)."""
from __future__ import annotations

# Longest document id accepted at build time. Longer ids could be indexed but not fetched over REST
# (``GET /documents/{id}``: proxies and servers cap the request line), so the corpus reader refuses them.
MAX_DOC_ID_CHARS = 512

# Longest query accepted anywhere (CLI, Python API, REST): long enough for argument-retrieval queries
# (ArguAna's are up to a few thousand characters); the service may set a lower limit of its own.
MAX_QUERY_CHARS = 4096
