"""The signaling WebSocket: ``/v1/signal?token=<join token>`` (docs/signaling.md)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

router = APIRouter()


@router.websocket("/v1/signal")
async def signal(websocket: WebSocket, token: str | None = None) -> None:
    await websocket.app.state.conference.serve(websocket, token)
