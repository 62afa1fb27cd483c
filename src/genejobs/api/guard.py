"""The door before the routes: who is asking, and how much they may send.

A small pure-ASGI middleware, because FastAPI reads (and parses, and spools to disk)
a body before any dependency runs: a token checked in a dependency comes too late to
spare the server an unauthenticated 300 MiB JSON or two 1 GiB WES attachments. Here
the token is checked from the headers before one body byte is received, and every
body is counted as it arrives and refused with 413 past its limit, whether or not a
``Content-Length`` was sent (chunked uploads are counted too).

Written by hand because it is the product's own edge (its tokens, its error bodies);
the principal found here is kept in the request's state so the routes' dependency
does not ask the database twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from genejobs import errors
from genejobs.jobs.store.auth import Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The largest body any route takes. A job request of 1,000 samples is ~300 KB of JSON;
# WES's form carries the same request as its workflow_params (attachments are refused).
MAX_BODY_BYTES = 4 * 1024 * 1024
BODY_TOO_LARGE_CODE = "DLI.0009"

CONTRACT_PATH = re.compile(r"^/v2\.0/(?P<project>[^/]+)/gene(/|$)")
WES_PATH = "/ga4gh/wes/"
STATE_KEY = "genejobs_principal"  # (project or None for WES, Principal)

Authenticate = Callable[[str | None, str | None], Awaitable[Principal]]


def token_of(headers: dict[str, str], *, wes: bool) -> str | None:
    """X-Auth-Token; under the WES door a ``Authorization: Bearer`` token wins."""
    token = headers.get("x-auth-token")
    auth = headers.get("authorization", "")
    if wes and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token


def cached_principal(state: dict[str, Any], project: str | None) -> Principal | None:
    """The principal the guard already checked for this project, if any."""
    found = state.get(STATE_KEY)
    if found is not None and found[0] == project:
        principal: Principal = found[1]
        return principal
    return None


class RequestGuard:
    """Authenticate before reading a body; refuse a body past ``max_body`` with 413."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        status_of: Callable[[errors.GeneJobsError], tuple[int, str]],
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.status_of = status_of
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        wes = path.startswith(WES_PATH)
        match = CONTRACT_PATH.match(path)
        if (wes or match) and _may_have_body(scope["method"], headers):
            project = match.group("project") if match else None
            try:
                principal = await self.authenticate(token_of(headers, wes=wes), project)
            except errors.GeneJobsError as exc:
                status, code = self.status_of(exc)
                await _answer(send, wes, status, code, exc.message)
                return
            scope.setdefault("state", {})[STATE_KEY] = (project, principal)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _answer(send, wes, 413, BODY_TOO_LARGE_CODE, self._too_large())
            return
        await self._counted(scope, receive, send, wes)

    def _too_large(self) -> str:
        return (
            f"body: larger than the {self.max_body // (1024 * 1024)} MiB a request may be "
            "(inputs are read from storage by URI, not sent in the request)"
        )

    async def _counted(self, scope: Scope, receive: Receive, send: Send, wes: bool) -> None:
        """Pass the body on while counting it; past the limit answer 413 and stop reading."""
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    refused = True
                    if not started:
                        await _answer(send, wes, 413, BODY_TOO_LARGE_CODE, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; whatever the route says after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise


def _may_have_body(method: str, headers: dict[str, str]) -> bool:
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        return True
    return bool(
        headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
    )


async def _answer(send: Send, wes: bool, status: int, code: str, message: str) -> None:
    """The contract's error body (or WES's) without touching the request body."""
    payload = (
        {"msg": message, "status_code": status}
        if wes
        else {"error_code": code, "error_msg": message}
    )
    raw = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                # the unread body stays unread: the client must open a new connection
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
