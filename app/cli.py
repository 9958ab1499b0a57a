"""The ``verbatim`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from app.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app import migrations

    migrations.upgrade(settings, args.revision)
    return 0


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    """Everything in one process on the embedded defaults: migrate, then serve."""
    _migrate(argparse.Namespace(revision="head"), settings)
    return _serve(args, settings)


def _recorder(args: argparse.Namespace, settings: Settings) -> int:
    """Run a recorder until interrupted (SIGINT/SIGTERM)."""
    import asyncio
    import signal

    from app.db import create_db_engine
    from app.storage import create_object_store
    from recorder.service import RecorderService

    async def run() -> None:
        engine = create_db_engine(settings)
        service = RecorderService(settings=settings, engine=engine,
                                  store=create_object_store(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await service.start()
        logging.getLogger(__name__).info("recorder %s running; signaling at %s",
                                         service.recorder_id, settings.signal_url)
        try:
            await stop.wait()
        finally:
            await service.aclose()
            engine.dispose()

    asyncio.run(run())
    return 0


def _transcriber(args: argparse.Namespace, settings: Settings) -> int:
    """Run the transcription worker until interrupted."""
    from workers.transcriber import run_transcriber

    run_transcriber(settings)
    return 0


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from app import crud
    from app.db import create_db_engine, session_scope

    engine = create_db_engine(settings)
    try:
        with session_scope(engine) as session:
            if crud.get_user_by_email(session, email=args.email):
                print(f"error: a user with email {args.email} already exists", file=sys.stderr)
                return 1
            user = crud.create_user(session, email=args.email, display_name=args.name)
            _, key = crud.create_api_key(session, user=user, name=args.key_name)
    finally:
        engine.dispose()
    print(f"user_id={user.id}")
    print(f"api_key={key}")
    print("Keep the API key: it is shown only once.", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verbatim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    for name, handler, text in (
        ("serve", _serve, "serve the API, signaling and meeting page"),
        ("dev", _dev, "migrate, then run everything in one process on embedded defaults"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--host", help="address to bind (default: VERBATIM_HOST)")
        sub.add_argument("--port", type=int, help="port to bind (default: VERBATIM_PORT)")
        sub.set_defaults(handler=handler)

    recorder = commands.add_parser(
        "recorder", help="run a recorder (the silent participant) against the API at "
        "VERBATIM_RECORDER_SIGNAL_URL")
    recorder.set_defaults(handler=_recorder)

    transcriber = commands.add_parser(
        "transcriber", help="run the transcription worker (VERBATIM_TRANSCRIBER_HOST/_PORT)")
    transcriber.set_defaults(handler=_transcriber)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=_migrate)

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user and print a new API key")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--key-name", default="default")
    create.set_defaults(handler=_users_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    _configure_logging(settings)
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
