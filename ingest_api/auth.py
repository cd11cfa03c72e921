"""Bearer JWTs as the cinema's auth service issues them: HS256 (shared secret) or RS256."""

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ugc.settings import InsecureSettingsError, Settings
from ugc.tokens import decode_claims, mint, verification_key

VERIFIED_TOKENS_KEPT = 10_000

bearer = HTTPBearer(auto_error=False, description="JWT from the auth service; `sub` is the viewer.")


@dataclass(frozen=True)
class Caller:
    user_id: UUID


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        """Raises InsecureSettingsError for the public HS secret outside development."""
        settings.require_private_jwt_secret()
        self._settings = settings
        self._key = verification_key(settings)
        # A client sends the same token with every event; its signature is checked once and
        # the result kept until the token expires (bounded, oldest dropped first).
        self._verified: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    def verify(self, token: str) -> Caller:
        """The caller of a valid token; raises jwt.InvalidTokenError otherwise."""
        cached = self._verified.get(token)
        if cached is not None:
            caller, expires_at = cached
            if time.time() < expires_at:
                return caller
            del self._verified[token]
            raise jwt.ExpiredSignatureError("Signature has expired")
        caller, expires_at = self._decode(token)
        self._verified[token] = (caller, expires_at)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return caller

    def _decode(self, token: str) -> tuple[Caller, float]:
        claims = decode_claims(self._settings, token, self._key)
        try:
            caller = Caller(user_id=UUID(str(claims["sub"])))
        except ValueError as exc:
            raise jwt.InvalidTokenError("sub is not a UUID") from exc
        return caller, float(claims["exp"])


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def current_caller(request: Request, credentials: BearerCredentials) -> Caller:
    return authenticate(request, credentials)


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The caller behind the bearer token, or 401."""
    if credentials is None:
        raise _unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return verifier.verify(credentials.credentials)
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def mint_token(settings: Settings, user_id: UUID, ttl: timedelta) -> str:
    """A development token signed with the local HS secret (`ugc token`)."""
    if settings.environment != "development":
        # Whoever holds a production secret must not get a tool that forges any viewer's token.
        raise InsecureSettingsError(
            "tokens are minted in development only (UGC_ENVIRONMENT=development)"
        )
    return mint(settings, str(user_id), ttl)
