"""The FastAPI application: wiring of settings, clients and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from app.api import health, meetings, pages, recordings, signal, transcripts, users
from app.conference import Conference
from app.config import Settings
from app.db import create_db_engine
from app.problems import install_problem_handlers
from app.rooms import create_room_state
from app.security import OidcVerifier
from app.storage import create_object_store
from recorder.service import RecorderService
from sfu import Sfu

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings)
        redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
        app.state.settings = settings
        app.state.engine = engine
        app.state.redis = redis
        app.state.object_store = create_object_store(settings)
        app.state.oidc = OidcVerifier(settings) if settings.oidc_jwks_url else None
        rooms = create_room_state(settings, redis)
        sfu = Sfu()
        conference = Conference(settings=settings, engine=engine, rooms=rooms, sfu=sfu)
        app.state.rooms, app.state.sfu, app.state.conference = rooms, sfu, conference
        recorder = None
        if settings.recorder_embedded:
            recorder = RecorderService(settings=settings, engine=engine,
                                       store=app.state.object_store)
            await recorder.start()
        app.state.recorder = recorder
        logger.info("verbatim API ready (env=%s, database=%s)", settings.env,
                    engine.url.get_backend_name())
        try:
            yield
        finally:
            if recorder is not None:
                await recorder.aclose()
            await conference.aclose()
            await sfu.close()
            await rooms.aclose()
            if redis is not None:
                await redis.aclose()
            engine.dispose()

    app = FastAPI(
        title="Verbatim",
        version="0.1.0",
        summary="Self-hosted meetings with recording, live captions and AI summaries",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(meetings.router)
    app.include_router(users.router)
    app.include_router(transcripts.router)
    app.include_router(signal.router)
    app.include_router(recordings.router)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files, name="static")
    return app
