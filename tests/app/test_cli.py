"""The verbatim command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "VERBATIM_DATA_DIR": str(tmp_path / "var"),
            "VERBATIM_LOG_LEVEL": "WARNING"}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_migrate_create_user_and_serve(env: dict[str, str]) -> None:
    assert _run(["migrate"], env).returncode == 0
    created = _run(["users", "create", "--email", "cli@example.com", "--name", "Cli"], env)
    assert created.returncode == 0, created.stderr
    key = dict(line.split("=", 1) for line in created.stdout.split())["api_key"]
    duplicate = _run(["users", "create", "--email", "cli@example.com", "--name", "X"], env)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "verbatim serve did not come up"
            time.sleep(0.2)
        me = httpx.get(f"{base}/v1/users/me", headers={"X-API-Key": key})
        assert me.status_code == 200 and me.json()["email"] == "cli@example.com"
    finally:
        server.terminate()
        server.wait(timeout=20)
