"""Storage calls from the API run beside the routes, never instead of them.

A stalled S3 endpoint holds each call for its timeouts; run in the thread pool that
serves every route, 40 such calls would leave no thread for a list call of a project
that never touches S3. Routes that reach storage therefore run their work here: at
most ``STORAGE_THREADS`` at once, and a call that cannot get a place within
``QUEUE_WAIT_S`` is answered 503 at once instead of queueing behind the stalled ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request

from genejobs.errors import StorageUnavailable
from genejobs.storage.store import deadline_in

T = TypeVar("T")

STORAGE_THREADS = 16
QUEUE_WAIT_S = 1.0
# A storage call starts only this long into a request. A stalled endpoint is answered by
# the first call's own timeouts (storage.INTERACTIVE: ~7 s); this bounds an endpoint that
# answers each call just before its timeout, without cutting a large submit short (a
# 1,000-sample submit checks 2,000 objects, ~10 s against a healthy endpoint).
REQUEST_STORAGE_S = 60.0


class StoragePool:
    """A gate of ``size`` places and the threads behind it (anyio's, under their own limit)."""

    def __init__(self, size: int = STORAGE_THREADS) -> None:
        self.size = size
        self._gate: anyio.CapacityLimiter | None = None
        self._threads: anyio.CapacityLimiter | None = None

    def _limiters(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        # made on first use, inside the event loop that will use them
        if self._gate is None or self._threads is None:
            self._gate = anyio.CapacityLimiter(self.size)
            self._threads = anyio.CapacityLimiter(self.size)
        return self._gate, self._threads

    async def run(self, endpoint: str, fn: Callable[..., T], *args: Any) -> T:
        gate, threads = self._limiters()
        try:
            with anyio.fail_after(QUEUE_WAIT_S):
                await gate.acquire()
        except TimeoutError:
            raise StorageUnavailable(
                f"storage: all {self.size} of the server's storage calls are still waiting "
                f"on their storage (S3 endpoint {endpoint}); try again later"
            ) from None

        def bounded() -> T:
            with deadline_in(REQUEST_STORAGE_S):
                return fn(*args)

        try:
            return await anyio.to_thread.run_sync(bounded, limiter=threads)
        finally:
            gate.release()


async def in_storage_pool(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` (which may call storage) in the app's storage pool."""
    pool: StoragePool = request.app.state.storage_pool
    endpoint = request.app.state.service.storage.s3_endpoint_name
    return await pool.run(endpoint, fn, *args)
