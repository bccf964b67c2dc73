"""Bearer JWT authentication and role checks.

Production verifies tokens against the identity provider's JWKS (`KM_JWT_JWKS_URL`); the embedded
default uses a locally generated RSA key under `var/` and `kommunmobil token` mints tokens with it.
`aud`, `iss` and `exp` are required and the algorithm list is explicit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from shared.direct_route import DIRECT_RESOLVERS
from shared.errors import Forbidden, IdentityProviderUnavailable, Unauthorized
from shared.settings import CommonSettings

log = logging.getLogger(__name__)

# `mdm` is a machine identity: the device management system posting compliance reports (B2, U4,
# U5); inventory admits it to that one endpoint and to nothing else. `telephony` likewise: the
# telephony platform reporting extensions' forwarding and voicemail (B4, U2, U3).
Role = Literal["it-service", "guideline-owner", "auditor", "department-head", "orderer", "employee",
               "mdm", "telephony"]
KNOWN_ROLES: frozenset[str] = frozenset(Role.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class User:
    person_id: str
    roles: frozenset[str]

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def dev_key_path(var_dir: Path) -> Path:
    return var_dir / "dev-jwt-signing-key.pem"


def load_or_create_dev_key(var_dir: Path) -> rsa.RSAPrivateKey:
    path = dev_key_path(var_dir)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def mint_token(
    key: rsa.RSAPrivateKey, *, subject: str, roles: list[str], issuer: str, audience: str,
    ttl_seconds: int = 8 * 3600, extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims = {"sub": subject, "roles": roles, "iss": issuer, "aud": audience,
              "iat": now, "exp": now + ttl_seconds, **(extra or {})}
    return jwt.encode(claims, key, algorithm="RS256")


class TokenVerifier:
    """Verifies bearer tokens against a fixed public key or a JWKS endpoint.

    A portal sends the same token with every request of a session; verifying its RS256
    signature and claims again each time cost ≈ 0.2 ms of CPU per request. Tokens verified once
    are remembered (at most `cache_size`, least recently used dropped) until they expire — never
    longer: an expired token is verified afresh, and fails.
    """

    def __init__(self, settings: CommonSettings, public_key: Any | None = None,
                 cache_size: int = 10_000) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._algorithms = list(settings.jwt_algorithms)
        self._public_key = public_key
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._verified: OrderedDict[str, tuple[User, float]] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> User:
        remembered = self._verified.get(token)
        if remembered is not None:
            user, expires = remembered
            if time.time() < expires:
                self._verified.move_to_end(token)
                return user
            del self._verified[token]
        user, expires = await self._verify(token)
        self._verified[token] = (user, expires)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return user

    async def _verify(self, token: str) -> tuple[User, float]:
        try:
            key: Any = self._public_key
            if self._jwks is not None:
                # PyJWKClient fetches (and caches) over blocking HTTP: keep it off the event loop.
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            claims = jwt.decode(
                token, key, algorithms=self._algorithms, audience=self._audience,
                issuer=self._issuer, options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            # The identity provider's keys cannot be fetched: not the caller's token at fault,
            # and a 401 would make a portal sign its user out.
            log.warning("JWKS unreachable: %r", exc)
            raise IdentityProviderUnavailable(
                "Sign-in cannot be checked right now; please try again in a moment.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The access token is not valid: {exc}") from exc
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise Unauthorized("The access token's roles claim must be a list")
        return (User(person_id=str(claims["sub"]), roles=frozenset(map(str, roles))),
                float(claims["exp"]))


_bearer = HTTPBearer(auto_error=False)


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Sign in: a bearer access token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


CurrentUser = Annotated[User, Depends(current_user)]


async def bearer_user(request: Request) -> User | None:
    """`current_user` for a DirectRoute: the caller; None without a bearer token, for FastAPI's
    own path to refuse as `current_user` does. A token that does not verify raises the same
    Unauthorized `current_user` would (verifying it twice could mean two JWKS fetches)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(token)


DIRECT_RESOLVERS[current_user] = bearer_user


def require_roles(*roles: str) -> Callable[..., Coroutine[Any, Any, User]]:
    """A dependency that admits only callers holding one of `roles` (function-level auth, BFLA)."""

    async def dependency(user: CurrentUser) -> User:
        if not user.has_any(*roles):
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(roles))}")
        return user

    return dependency
