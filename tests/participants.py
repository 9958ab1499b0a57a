"""A meeting participant in Python: joins over REST and the signaling WebSocket, and
publishes a WAV file as its microphone, answering the SFU's offers as the page does."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from recorder.signaling import SignalingClient


class PythonParticipant:
    def __init__(self, base_url: str, meeting_id: str, name: str, *, audio: Path,
                 consent: dict[str, bool]) -> None:
        self.base_url = base_url
        self.meeting_id = meeting_id
        self.name = name
        self.consent = consent
        self.player = MediaPlayer(str(audio), loop=True)
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.signal: SignalingClient | None = None
        self.token = ""
        self.id = ""
        self._events: asyncio.Task[None] | None = None

    async def join(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            response = await http.post(f"/v1/meetings/{self.meeting_id}/join", json={
                "display_name": self.name, "consent": self.consent})
            response.raise_for_status()
            body = response.json()
        self.token, self.id = body["token"], body["participant"]["id"]
        self.signal = SignalingClient(body["signal_url"], self.token)
        await self.signal.connect()
        self._events = asyncio.create_task(self._answer_offers())
        await self.signal.request("JoinRoom", {"roomId": self.meeting_id})

    async def _answer_offers(self) -> None:
        assert self.signal is not None
        async for event in self.signal.events():
            if event["method"] == "ReceiveOffer":
                await self._answer(event["params"])

    async def _answer(self, offer: dict[str, Any]) -> None:
        assert self.signal is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        for transceiver in self.pc.getTransceivers():
            if offer["publish"].get("audio") == transceiver.mid and transceiver.kind == "audio":
                if transceiver.sender.track is None and self.player.audio is not None:
                    transceiver.sender.replaceTrack(self.player.audio)
                transceiver.direction = "sendonly"
            elif offer["publish"].get(transceiver.kind) == transceiver.mid:
                transceiver.direction = "inactive"  # no camera
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.signal.notify("SendAnswer", {"sdp": self.pc.localDescription.sdp})

    async def set_consent(self, **answers: bool) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            response = await http.post(f"/v1/meetings/{self.meeting_id}/consent", json=answers,
                                       headers={"Authorization": f"Bearer {self.token}"})
            response.raise_for_status()

    async def leave(self) -> None:
        if self.signal is not None:
            with contextlib.suppress(Exception):
                await self.signal.request("LeaveRoom", timeout=5)
            await self.signal.aclose()
        if self._events is not None:
            self._events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events
        await self.pc.close()
        if self.player.audio is not None:
            self.player.audio.stop()
