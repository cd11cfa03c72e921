"""JWTs of the cinema's auth service, checked with the service's key (HS secret or RS public
key); analysts and operators carry `"role": "analyst"` to read the worker's analytics views."""

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from ugc.settings import Settings

ANALYST_ROLE = "analyst"


def verification_key(settings: Settings) -> str:
    if settings.jwt_algorithm.startswith("HS"):
        return settings.jwt_secret
    if settings.jwt_public_key_file is None:
        raise ValueError(f"{settings.jwt_algorithm} needs UGC_JWT_PUBLIC_KEY_FILE")
    return settings.jwt_public_key_file.read_text()


def decode_claims(settings: Settings, token: str, key: str | None = None) -> dict[str, Any]:
    """The claims of a valid token; raises jwt.InvalidTokenError otherwise."""
    claims: dict[str, Any] = jwt.decode(
        token,
        key if key is not None else verification_key(settings),
        algorithms=[settings.jwt_algorithm],
        audience=settings.jwt_audience or None,
        issuer=settings.jwt_issuer or None,
        options={"require": ["sub", "exp"]},
    )
    return claims


def mint(settings: Settings, subject: str, ttl: timedelta, **extra: Any) -> str:
    """A token signed with the local HS secret (development, tests, `ugc analytics`)."""
    if not settings.jwt_algorithm.startswith("HS"):
        raise ValueError("minting needs an HS algorithm and UGC_JWT_SECRET")
    settings.require_private_jwt_secret()
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + ttl, **extra}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def mint_analyst_token(settings: Settings, ttl: timedelta = timedelta(minutes=10)) -> str:
    return mint(settings, ANALYST_ROLE, ttl, role=ANALYST_ROLE)
