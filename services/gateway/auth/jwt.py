"""JWT bearer tokens (PyJWT): RS256, ES256 and HS256, each verified only with a key of its own family, so an
RS256 public key can never serve as an HS256 secret; issuer, audience, expiry and not-before checked with a
small clock skew; signing keys from configuration or a JWKS URL (PyJWT's client caches and refreshes them)."""

import asyncio

import jwt
from jwt import PyJWKClient

from services.gateway.config import GatewaySettings
from services.gateway.identity import SCOPES, Principal
from services.runtime.errors import Unauthenticated

_ASYMMETRIC = ("RS256", "ES256")


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class JwtVerifier:
    """Verifies tokens from one issuer and maps their claims to a Principal; reads the gateway's jwt_* settings."""

    @classmethod
    def configured(cls, settings: GatewaySettings) -> "JwtVerifier | None":
        """The verifier the settings describe; None when no issuer is set (tokens are then refused)."""
        return cls(settings) if settings.jwt_issuer else None

    def __init__(self, settings: GatewaySettings) -> None:
        self._s = settings
        self._jwks = (
            PyJWKClient(
                settings.jwt_jwks_url,
                cache_keys=True,
                lifespan=settings.jwt_jwks_cache_seconds,
                timeout=5,
                # An unknown key id refetches the set (rotation), but not more often than this (tokens with
                # made-up key ids must not turn the gateway against the identity provider).
                cooldown_duration=settings.jwt_jwks_refresh_cooldown_seconds,
            )
            if settings.jwt_jwks_url
            else None
        )
        self._keys = [jwt.PyJWK.from_json(k) if k.lstrip().startswith("{") else k for k in settings.jwt_public_keys]

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed token: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in self._s.jwt_algorithms:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted; accepted: {self._s.jwt_algorithms}")
        for key in await self._candidate_keys(token, algorithm):
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    issuer=self._s.jwt_issuer,
                    audience=self._s.jwt_audience,
                    leeway=self._s.jwt_leeway_seconds,
                    options={"require": ["exp", "iss", "aud"]},
                )
            except (jwt.InvalidSignatureError, jwt.InvalidKeyError):
                # Another trusted key may have signed it (rotation), or this key is of another family.
                continue
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"token refused: {exc}") from exc
            return self._principal(claims)
        raise Unauthenticated("token signature does not verify with any trusted key")

    async def _candidate_keys(self, token: str, algorithm: str) -> list:
        if algorithm == "HS256":
            if not self._s.jwt_hs256_secret:
                raise Unauthenticated("HS256 tokens are not accepted: no shared secret is configured")
            return [self._s.jwt_hs256_secret]
        if algorithm not in _ASYMMETRIC:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not supported")
        keys = [k for k in self._keys if isinstance(k, str) or k.algorithm_name in (algorithm, None)]
        if self._jwks is not None:
            try:
                # Blocking HTTP on a cache miss (a new kid): off the event loop.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                keys.append(signing)
            except jwt.PyJWKClientError as exc:
                if not keys:
                    raise Unauthenticated(f"no signing key for this token: {exc}") from exc
        if not keys:
            raise Unauthenticated("no public key is configured for asymmetric tokens")
        return keys

    def _principal(self, claims: dict) -> Principal:
        s = self._s
        tenant = claims.get(s.jwt_tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Unauthenticated(f"token has no {s.jwt_tenant_claim!r} claim naming a tenant")
        groups = claims.get(s.jwt_groups_claim) or []
        if isinstance(groups, str):
            groups = groups.split()
        raw_scopes = claims.get(s.jwt_scopes_claim)
        if raw_scopes is None:
            scopes = list(s.jwt_default_scopes)
        else:
            scopes = raw_scopes.split() if isinstance(raw_scopes, str) else list(raw_scopes)
        return Principal(
            tenant=tenant,
            user=str(claims.get(s.jwt_user_claim) or ""),
            groups=tuple(sorted({str(g) for g in groups})),
            scopes=frozenset(x for x in scopes if x in SCOPES),
            via="jwt",
        )
