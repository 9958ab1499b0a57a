"""REST: user profiles."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app import crud
from app.deps import CurrentUser, SessionDep
from app.exceptions import NotFound
from app.models import UserPublic

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("/me")
def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.get("/{user_id}/profile")
def read_profile(user_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Profiles are visible within a tenant; anyone else's is answered as not found."""
    other = crud.get_user(session, user_id=user_id)
    if other is None or other.tenant_id != user.tenant_id:
        raise NotFound(f"User {user_id} not found")
    return UserPublic.model_validate(other)
