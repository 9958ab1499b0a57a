"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.db import ping

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), timeout=3)
    except Exception as exc:  # a probe may fail in any way; readiness reports, never raises
        logger.warning("readiness: %s is not reachable: %s", name, exc)
        return name, f"error: {type(exc).__name__}"
    return name, "ok"


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database, Redis (when configured) and object storage are reachable."""
    state = request.app.state
    probes: dict[str, Any] = {"database": lambda: asyncio.to_thread(ping, state.engine)}
    if state.redis is not None:
        probes["redis"] = state.redis.ping
    if state.object_store is not None:
        probes["storage"] = lambda: asyncio.to_thread(state.object_store.check)
    results = dict(await asyncio.gather(*(_check(n, p) for n, p in probes.items())))
    ready = all(value == "ok" for value in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
    )
