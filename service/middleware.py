"""ASGI middleware that guards every request before a route sees it: the Host allow-list and the body size limit."""
from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers

from .errors import error

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_HOST = r"\[[0-9A-Fa-f:.]+\]|[^:\[\]/@\s*]+"  # a bracketed IPv6 literal, or a name or IPv4 address
_HOST_NAME = re.compile(_HOST)
_HOST_HEADER = re.compile(rf"({_HOST})(?::[0-9]*)?")  # a Host header: the host, then an optional port


def host_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an allowed host (None when it can): a name, an address, ``*.domain`` or ``*``."""
    if pattern == "*":
        return None
    name = pattern[2:] if pattern.startswith("*.") else pattern
    if not _HOST_NAME.fullmatch(name):
        return f"{pattern!r} is not a host name, an address ([...] around IPv6), '*.domain' or '*' (no port)"
    return None


class AllowedHostsMiddleware:
    """Answer 400 unless the Host header names an allowed host (any port).

    A keyless server on loopback must not answer requests made through a DNS name an attacker controls
    (DNS rebinding): by default only the loopback names are accepted. Patterns: exact names, ``*.domain``, ``*``.
    """

    def __init__(self, app, allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> None:
        self.app = app
        self.allowed_hosts = [h.lower() for h in allowed_hosts]
        self.allow_any = "*" in self.allowed_hosts

    def allows(self, host_header: str | None) -> bool:
        match = _HOST_HEADER.fullmatch(host_header or "")
        if match is None:
            return False
        host = match.group(1).lower()
        return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in self.allowed_hosts)

    async def __call__(self, scope, receive, send):
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = Headers(scope=scope).get("host")
        if not self.allows(host):
            message = f"host {host!r} is not allowed; this server accepts {', '.join(self.allowed_hosts)} (its --allowed-hosts)"
            return await error(400, "Host", message)(scope, receive, send)
        return await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Reject request bodies over the limit with 413, whether or not Content-Length is sent."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = error(413, "body", f"request body larger than {self.limit} bytes")
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await too_large(scope, receive, send)
        received = 0
        exceeded = response_started = False

        async def limited_receive():
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal response_started
            if exceeded:  # the app's own answer to the cut-off body (FastAPI: 400 "error parsing the body"): ours is 413
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if exceeded and not response_started:
            await too_large(scope, receive, send)


class _BodyTooLarge(Exception):
    pass
