from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from app import crud
from app.config import Settings
from app.db import create_db_engine, session_scope
from tests.conftest import unique_email


@dataclass
class Account:
    id: str
    email: str
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def make_account(settings: Settings) -> Iterator[Callable[..., Account]]:
    engine = create_db_engine(settings)

    def make(name: str = "Ada", tenant_of: Account | None = None) -> Account:
        import uuid

        with session_scope(engine) as session:
            tenant = None
            if tenant_of is not None:
                owner = crud.get_user(session, user_id=uuid.UUID(tenant_of.id))
                tenant = owner.tenant_id if owner else None
            user = crud.create_user(session, email=unique_email(), display_name=name,
                                    tenant_id=tenant)
            _, key = crud.create_api_key(session, user=user)
            return Account(id=str(user.id), email=user.email, name=name, key=key)

    yield make
    engine.dispose()


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as client:
        yield client


@pytest.fixture
def host(make_account: Callable[..., Account]) -> Account:
    return make_account("Hana Host")


def create_meeting(http: httpx.Client, account: Account, **fields: object) -> dict:
    response = http.post("/v1/meetings", json={"title": "Weekly sync", **fields},
                         headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


def join(http: httpx.Client, meeting_id: str, account: Account | None = None,
         **body: object) -> httpx.Response:
    headers = account.headers if account else {}
    if account is None:
        body.setdefault("display_name", "Guest")
    return http.post(f"/v1/meetings/{meeting_id}/join", json=body, headers=headers)
