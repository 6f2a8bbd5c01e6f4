"""JWT bearer tokens end to end: signing keys from a local JWKS server (cached, refreshed on a new key id) and
from configuration; every classic forgery refused."""

import base64
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ragmesh.suite import free_port
from tests.servers import gateway

ISSUER, AUDIENCE, SECRET = "https://idp.test", "ragmesh", "s" * 48
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_NEXT = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_PEM = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _jwk(private, kid: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(private.public_key())), "kid": kid, "use": "sig"}


class _Jwks:
    """A JWKS endpoint on loopback; `keys` can change while it runs (rotation); counts its fetches."""

    def __init__(self) -> None:
        self.keys = [_jwk(RSA_KEY, "rsa-1"), _jwk(EC_KEY, "ec-1")]
        self.fetches = 0

    @contextlib.contextmanager
    def serve(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.fetches += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                """Silent: the test reports through its assertions, not the server's access log."""

        server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
        finally:
            server.shutdown()
            server.server_close()


def token(key=RSA_KEY, algorithm="RS256", kid="rsa-1", **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "tenant": "acme", "iat": now, "exp": now + 300}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_none() -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "tenant": "acme", "exp": now + 300}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def forged_confusion() -> str:
    """An RS256 public key (which anyone may hold) used as an HS256 secret: the classic algorithm confusion.
    PyJWT refuses to sign with a PEM as an HMAC key, so the signature is made by hand."""
    import hashlib
    import hmac

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "tenant": "acme", "exp": now + 300}
    signing = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'})}.{_b64(claims)}"
    mac = hmac.new(RSA_PEM, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.fixture(scope="module")
def jwks():
    return _Jwks()


@pytest.fixture(scope="module")
async def api_jwt(suite, jwks):
    with jwks.serve() as url:
        settings = suite.gateway_settings(
            jwt_issuer=ISSUER,
            jwt_jwks_url=url,
            jwt_public_keys=[RSA_PEM.decode()],
            jwt_algorithms=["RS256", "ES256", "HS256"],
            jwt_hs256_secret=SECRET,
            jwt_jwks_refresh_cooldown_seconds=0,
        )
        async with gateway(settings) as client:
            yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(
    "make",
    [
        lambda: token(),
        lambda: token(EC_KEY, "ES256", kid="ec-1"),
        lambda: token(SECRET, "HS256", kid=None),
        # Within the clock skew: expired 10 s ago, valid from 10 s ahead.
        lambda: token(exp=int(time.time()) - 10),
        lambda: token(nbf=int(time.time()) + 10),
    ],
    ids=["rs256-jwks", "es256-jwks", "hs256-secret", "expired-within-skew", "nbf-within-skew"],
)
async def test_valid_tokens_are_accepted(api_jwt, make):
    reply = await api_jwt.get("/v1/documents", headers=bearer(make()))
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (forged_none, "'none' is not accepted"),
        (forged_confusion, "signature"),
        (lambda: token(iss="https://evil.test"), "issuer"),
        (lambda: token(aud="someone-else"), "Audience"),
        (lambda: token(exp=int(time.time()) - 120), "expired"),
        (lambda: token(nbf=int(time.time()) + 120), "not yet valid"),
        (lambda: token(tenant=None), "tenant"),
        (lambda: token(exp=None), "exp"),
        (lambda: token(RSA_NEXT, kid="rsa-unknown"), "trusted key"),
        (lambda: token(SECRET[:-1] + "x", "HS256", kid=None), "signature"),
        (lambda: token()[:-4] + "AAAA", "signature"),
        (lambda: "eyJhbGciOi.not-base64.at-all", "malformed"),
    ],
    ids=[
        "alg-none",
        "rs256-key-as-hs256-secret",
        "wrong-issuer",
        "wrong-audience",
        "expired",
        "not-yet-valid",
        "no-tenant",
        "no-expiry",
        "unknown-key",
        "wrong-hs256-secret",
        "tampered-signature",
        "garbage",
    ],
)
async def test_forged_or_invalid_tokens_are_401_with_the_reason(api_jwt, make, fragment):
    reply = await api_jwt.get("/v1/documents", headers=bearer(make()))
    assert reply.status_code == 401 and fragment in reply.json()["detail"], reply.text


async def test_claims_map_to_tenant_user_groups_and_scopes(api_jwt):
    reader = token(scope="query", groups=["eng"])
    assert (await api_jwt.get("/v1/documents", headers=bearer(reader))).status_code == 200
    upload = await api_jwt.post(
        "/v1/documents", headers=bearer(reader), files={"file": ("a.txt", b"some text", "text/plain")}
    )
    assert upload.status_code == 403
    # A token for another tenant sees that tenant only (globex's list, not acme's).
    acme = (await api_jwt.get("/v1/documents", headers=bearer(token()))).json()
    globex = (await api_jwt.get("/v1/documents", headers=bearer(token(tenant="globex")))).json()
    assert {d["document_id"] for d in acme["documents"]}.isdisjoint({d["document_id"] for d in globex["documents"]})


async def test_a_rotated_signing_key_is_fetched_once_and_then_cached(api_jwt, jwks):
    jwks.keys = [*jwks.keys, _jwk(RSA_NEXT, "rsa-2")]
    before = jwks.fetches
    rotated = token(RSA_NEXT, kid="rsa-2")
    for _ in range(3):
        assert (await api_jwt.get("/v1/documents", headers=bearer(rotated))).status_code == 200
    assert jwks.fetches - before == 1


BAD_CREDENTIALS = {
    "bearer-without-token": {"Authorization": "Bearer"},
    "unknown-key": {"X-API-Key": "nope"},
    "key-shaped-unknown": {"X-API-Key": "rmk_deadbeef_" + "x" * 43},
    "bootstrap-key-in-other-case": {"X-API-Key": "KEY-ACME"},
    "bootstrap-key-with-suffix": {"X-API-Key": "key-acme2"},
    "alg-none": bearer(forged_none()),
    "algorithm-confusion": bearer(forged_confusion()),
    "expired": bearer(token(exp=int(time.time()) - 600)),
    "wrong-issuer": bearer(token(iss="https://evil.test")),
    "wrong-audience": bearer(token(aud="other")),
    "tampered": bearer(token()[:-4] + "AAAA"),
    "basic-auth": {"Authorization": "Basic a2V5LWFjbWU6"},
}


async def test_no_route_answers_a_bad_credential(api_jwt):
    """Every operation of the OpenAPI schema (but health and metrics) refuses every bad credential with 401."""
    paths = (await api_jwt.get("/openapi.json")).json()["paths"]
    operations = [
        (method, path.replace("{document_id}", "doc").replace("{key_id}", "key"))
        for path, item in paths.items()
        for method in item
        if path not in ("/healthz", "/readyz")
    ]
    assert len(operations) >= 14
    for name, headers in BAD_CREDENTIALS.items():
        for method, path in operations:
            reply = await api_jwt.request(method.upper(), path, headers=headers, json={})
            assert reply.status_code == 401, f"{name}: {method} {path} answered {reply.status_code}"
            assert reply.headers["www-authenticate"].startswith("Bearer")
