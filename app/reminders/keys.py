"""VAPID keys: from the environment, or made once into the instance folder (DESIGN 6)."""

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PRIVATE_FILE = "vapid_private.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ensure_keys(instance_path: str) -> str:
    """Create the instance VAPID key if there is none; return the path of the PEM file."""
    path = os.path.join(instance_path, PRIVATE_FILE)
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = f"{path}.{os.getpid()}"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(pem)
        try:  # atomic, and the first of several workers starting together wins
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path


def load_private_key(config: dict, instance_path: str) -> ec.EllipticCurvePrivateKey:
    """The VAPID private key: VAPID_PRIVATE_KEY (PEM or base64url raw scalar) or the instance file."""
    raw = config.get("VAPID_PRIVATE_KEY")
    if raw:
        if "BEGIN" in raw:
            return serialization.load_pem_private_key(raw.encode(), password=None)
        scalar = int.from_bytes(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), "big")
        return ec.derive_private_key(scalar, ec.SECP256R1())
    with open(ensure_keys(instance_path), "rb") as fh:
        return serialization.load_pem_private_key(fh.read(), password=None)


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The applicationServerKey the browser needs: the uncompressed point, base64url."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def key_id(public_b64: str) -> str:
    """A short, stable id of the public key, stored with each subscription (SECURITY 34)."""
    return b64url(hashlib.sha256(public_b64.encode()).digest())[:16]


@dataclass(frozen=True)
class VapidKeys:
    private: ec.EllipticCurvePrivateKey
    public_b64: str
    key_id: str
    subject: str


def current(app) -> VapidKeys:
    """The app's VAPID keys, loaded once per app (reading a PEM on every send would be waste)."""
    cached = app.extensions.get("attune_vapid")
    if cached is None:
        private = load_private_key(app.config, app.instance_path)
        public = public_key_b64(private)
        subject = app.config.get("VAPID_SUBJECT") or ""
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("VAPID_SUBJECT must be a mailto: or https: URL (Apple refuses others)")
        cached = VapidKeys(private, public, key_id(public), subject)
        app.extensions["attune_vapid"] = cached
    return cached
