"""FastAPI dependencies, as ``Annotated`` aliases the routers import."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import crud
from app.config import Settings
from app.db import session_scope
from app.exceptions import InvalidToken, Unauthenticated
from app.models import User
from app.security import (
    JOIN_TOKEN_ALGORITHM,
    JoinClaims,
    OidcVerifier,
    decode_join_token,
    looks_like_api_key,
    token_algorithm,
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (API key or OIDC), a meeting participant (join token), or both."""

    user: User | None
    claims: JoinClaims | None


def _credential(authorization: str | None, api_key: str | None) -> str | None:
    if api_key:
        return api_key.strip()
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token>' or 'X-API-Key: <key>'")
    return value.strip()


def _from_jwt(request: Request, session: Session, settings: Settings, token: str) -> Principal:
    algorithm = token_algorithm(token)
    if algorithm == JOIN_TOKEN_ALGORITHM:
        claims = decode_join_token(settings, token)
        user = crud.get_user(session, user_id=claims.user_id) if claims.user_id else None
        return Principal(user=user, claims=claims)
    verifier: OidcVerifier | None = request.app.state.oidc
    if algorithm is None or verifier is None:
        raise InvalidToken("The bearer token is neither an API key nor a token we accept")
    identity = verifier.verify(token)
    user = crud.get_or_create_external_user(
        session, subject=identity.subject, email=identity.email, name=identity.name
    )
    return Principal(user=user, claims=None)


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal | None:
    credential = _credential(authorization, x_api_key)
    if credential is None:
        return None
    if looks_like_api_key(credential):
        user = crud.get_user_by_api_key(session, key=credential)
        if user is None:
            raise InvalidToken("Unknown or revoked API key")
        return Principal(user=user, claims=None)
    return _from_jwt(request, session, settings, credential)


PrincipalDep = Annotated[Principal | None, Depends(get_principal)]


def get_optional_user(principal: PrincipalDep) -> User | None:
    return principal.user if principal else None


def get_current_user(principal: PrincipalDep) -> User:
    if principal is None:
        raise Unauthenticated("An API key or bearer token is required")
    if principal.user is None:
        raise Unauthenticated("This endpoint needs a user's API key or bearer token")
    return principal.user


def get_join_claims(principal: PrincipalDep) -> JoinClaims:
    if principal is None or principal.claims is None:
        raise Unauthenticated("This endpoint needs the join token of a meeting participant")
    return principal.claims


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]
JoinClaimsDep = Annotated[JoinClaims, Depends(get_join_claims)]
