"""A Python client of Verbatim's signaling WebSocket (JSON-RPC 2.0, docs/signaling.md).

The recorder joins meetings through it exactly as a browser does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)


class SignalingError(Exception):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.data = error.get("data")


class SignalingClosed(Exception):
    """The connection closed; ``code`` is the WebSocket close code."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"signaling closed ({code}: {reason})")
        self.code = code
        self.reason = reason


class SignalingClient:
    def __init__(self, url: str, token: str, *, keepalive_seconds: float = 15.0) -> None:
        self._url = f"{url}?token={token}"
        self._keepalive_seconds = keepalive_seconds
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._connection: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.close_code: int | None = None

    async def connect(self) -> None:
        self._connection = await websockets.connect(self._url, max_size=2**22)
        self._tasks = [
            asyncio.create_task(self._read(), name="signaling-read"),
            asyncio.create_task(self._keepalive(), name="signaling-keepalive"),
        ]

    async def request(self, method: str, params: dict[str, Any] | None = None,
                      *, timeout: float = 20.0) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._send({"jsonrpc": "2.0", "id": request_id, "method": method,
                          "params": params or {}})
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Server notifications (``{"method", "params"}``) until the connection closes."""
        while (event := await self._events.get()) is not None:
            yield event

    async def aclose(self) -> None:
        """Close the connection and stop the background tasks; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self._events.put_nowait(None)

    async def _send(self, message: dict[str, Any]) -> None:
        if self._connection is None:
            raise SignalingClosed(self.close_code, "not connected")
        await self._connection.send(json.dumps(message))

    async def _read(self) -> None:
        assert self._connection is not None
        try:
            async for raw in self._connection:
                self._dispatch(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._connection.close_code if self._connection else None
            closed = SignalingClosed(self.close_code, "connection closed")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(closed)
            self._events.put_nowait(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is not None and not future.done():
            if "error" in message:
                future.set_exception(SignalingError(message["error"]))
            else:
                future.set_result(message.get("result"))
        elif "method" in message:
            self._events.put_nowait({"method": message["method"],
                                     "params": message.get("params") or {}})
        elif "error" in message:
            logger.warning("signaling error without a request: %s", message["error"])

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_seconds)
            with contextlib.suppress(SignalingClosed, websockets.ConnectionClosed):
                await self.notify("KeepAlive")
