"""Every setting Verbatim reads, in one place.

Settings come from the environment (prefix ``VERBATIM_``) or a ``.env`` file in the
working directory. Nothing else in the code base reads ``os.environ``. The README lists
every setting with its default; keep the two in step.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "verbatim"})


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VERBATIM_", env_file=".env", extra="ignore", frozen=True
    )

    # --- process ---------------------------------------------------------------------
    env: Environment = Environment.development
    data_dir: Path = Path("./var")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    log_level: str = "INFO"

    # --- persistence -----------------------------------------------------------------
    database_url: str | None = None
    redis_url: str | None = None

    # --- auth ------------------------------------------------------------------------
    secret_key: SecretStr | None = None
    join_token_ttl_seconds: int = Field(default=600, ge=300, le=600)
    token_leeway_seconds: int = Field(default=60, ge=0, le=300)
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_algorithms: CsvList = Field(default_factory=lambda: ["RS256", "ES256"])

    # --- ICE -------------------------------------------------------------------------
    stun_urls: CsvList = Field(default_factory=list)
    turn_urls: CsvList = Field(default_factory=list)
    turn_secret: SecretStr | None = None
    turn_credential_ttl_seconds: int = Field(default=3600, ge=60)

    # --- object storage --------------------------------------------------------------
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "verbatim"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    s3_checksum: Literal["when_supported", "when_required"] = "when_required"
    s3_max_attempts: int = Field(default=5, ge=1)
    s3_presign_seconds: int = Field(default=900, ge=1)

    # --- signaling -------------------------------------------------------------------
    signal_max_message_bytes: int = Field(default=65536, ge=1024)
    signal_keepalive_seconds: float = Field(default=15.0, gt=0)
    signal_reconnect_grace_seconds: float = Field(default=30.0, ge=0)
    room_ttl_seconds: int = Field(default=3600, ge=60)

    # --- recording -------------------------------------------------------------------
    recording_chunk_seconds: float = Field(default=10.0, gt=0)
    recorder_embedded: bool = True
    recorder_signal_url: str | None = None
    recorder_spool_dir: Path | None = None
    recorder_lease_seconds: float = Field(default=15.0, ge=2)
    recorder_poll_seconds: float = Field(default=1.0, gt=0)

    # --- transcription ---------------------------------------------------------------
    whisper_model_path: Path | None = None
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = Field(default=5, ge=1)
    whisper_language: str = "en"
    whisper_cpu_threads: int = Field(default=0, ge=0)
    transcription_mode: Literal["embedded", "worker", "off"] = "embedded"
    transcriber_host: str = "127.0.0.1"
    transcriber_port: int = Field(default=8765, ge=0, le=65535)
    transcriber_url: str | None = None
    transcription_partial_seconds: float = Field(default=0.5, gt=0)
    transcription_max_batch: int = Field(default=4, ge=1)
    transcription_max_streams: int = Field(default=64, ge=1)

    # --- summaries -------------------------------------------------------------------
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"

    _split = field_validator("oidc_algorithms", "stun_urls", "turn_urls", mode="before")(
        _split_csv
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env is not Environment.production:
            return self
        if self.secret_key is None or self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError("VERBATIM_SECRET_KEY must be set to a real secret in production")
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("VERBATIM_SECRET_KEY must be at least 32 characters")
        if self.turn_urls and (
            self.turn_secret is None
            or self.turn_secret.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("VERBATIM_TURN_SECRET must be set when VERBATIM_TURN_URLS is")
        return self

    # --- derived values --------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url.removeprefix("postgres://")
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{self.data_dir / 'verbatim.db'}"

    @property
    def spool_dir(self) -> Path:
        return self.recorder_spool_dir or self.data_dir / "spool"

    @property
    def signal_url(self) -> str:
        """Where a recorder reaches the signaling WebSocket."""
        if self.recorder_signal_url:
            return self.recorder_signal_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"ws://{host}:{self.port}/v1/signal"

    @property
    def transcriber_ws_url(self) -> str:
        """Where a recorder reaches the transcription worker."""
        if self.transcriber_url:
            return self.transcriber_url
        host = "127.0.0.1" if self.transcriber_host in ("0.0.0.0", "::") else self.transcriber_host
        return f"ws://{host}:{self.transcriber_port}/v1/transcribe"

    @property
    def objects_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "objects"

    @cached_property
    def signing_key(self) -> str:
        """The key that signs join tokens.

        Outside production an unset key is generated once and kept in the data
        directory, so tokens survive a restart of the development server.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def get_settings() -> Settings:
    return Settings()
