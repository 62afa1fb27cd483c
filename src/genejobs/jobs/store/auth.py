"""API tokens: random strings handed out once, stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from genejobs.errors import AuthenticationFailed, Forbidden
from genejobs.jobs.store.db import now_ms
from genejobs.jobs.store.models import TokenRow

ADMIN = "admin"
USER = "user"


@dataclass(frozen=True)
class Principal:
    user: str
    role: str
    projects: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    sessions: sessionmaker[Session],
    *,
    user: str,
    projects: list[str],
    admin: bool,
    ttl_ms: int | None = None,
) -> str:
    token = "gj_" + secrets.token_urlsafe(32)
    now = now_ms()
    with sessions.begin() as s:
        s.add(
            TokenRow(
                token_hash=_digest(token),
                user_name=user,
                projects=",".join(projects),
                role=ADMIN if admin else USER,
                created_ms=now,
                expires_ms=now + ttl_ms if ttl_ms else None,
            )
        )
    return token


def token_principal(sessions: sessionmaker[Session], token: str | None) -> Principal:
    """Who holds ``token``: 401 (``AuthenticationFailed``) for a missing/unknown/expired one."""
    if not token:
        raise AuthenticationFailed("X-Auth-Token header is missing")
    with sessions() as s:
        row = s.get(TokenRow, _digest(token))
        if row is None:
            raise AuthenticationFailed("X-Auth-Token is not valid")
        if row.expires_ms is not None and row.expires_ms < now_ms():
            raise AuthenticationFailed("X-Auth-Token has expired")
        projects = tuple(p for p in row.projects.split(",") if p)
        return Principal(row.user_name, row.role, projects)


def authenticate(sessions: sessionmaker[Session], token: str | None, project_id: str) -> Principal:
    """401 for a missing/unknown/expired token, 403 for a token of another project."""
    principal = token_principal(sessions, token)
    if project_id not in principal.projects:
        raise Forbidden(f"this token is not allowed on project '{project_id}'")
    return principal
