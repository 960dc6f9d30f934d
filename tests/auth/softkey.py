"""A software passkey authenticator (ES256, "none" attestation) for fast API-level ceremony tests.

It builds the same WebAuthn JSON a browser sends, so py_webauthn verifies it for real; flags and
counters can be set to produce the responses a broken or hostile client would send.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url

UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


@dataclass
class SoftKey:
    """One discoverable credential on one authenticator, bound to `rp_id` and `origin`."""

    rp_id: str = "localhost"
    origin: str = "http://localhost:5000"
    user_verified: bool = True
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    sign_count: int = 0
    user_handle: bytes | None = None

    @property
    def register_id(self) -> str:
        return b64(self.credential_id)

    def _client_data(self, kind: str, challenge: str) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def _flags(self, extra: int = 0) -> bytes:
        return bytes([UP | (UV if self.user_verified else 0) | extra])

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def register(self, options: dict) -> dict:
        """The credential JSON for navigator.credentials.create() with `options`."""
        self.user_handle = _unb64(options["user"]["id"])
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        attested = (
            bytes(16)
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_key()
        )
        auth_data = rp_hash + self._flags(AT) + self.sign_count.to_bytes(4, "big") + attested
        client_data = self._client_data("webauthn.create", options["challenge"])
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal"],
            },
        }

    def sign(self, options: dict, *, user_handle: bytes | None = None, count_step: int = 1) -> dict:
        """The credential JSON for navigator.credentials.get() with `options`."""
        self.sign_count += count_step
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        auth_data = rp_hash + self._flags() + self.sign_count.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = user_handle if user_handle is not None else self.user_handle
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(handle) if handle else None,
            },
        }


def _unb64(value: str) -> bytes:
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(value)
