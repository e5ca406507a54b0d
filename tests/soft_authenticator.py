"""A software WebAuthn authenticator for tests: real ES256 keys, real CBOR, real signatures.

It answers the options our API hands out the way a browser and a platform
authenticator would (`PublicKeyCredential.toJSON()`): a "none" attestation
for a registration, a signed assertion for a sign-in. Keyword arguments make
it misbehave on purpose: another origin or relying party, no user
verification, a counter of its choosing.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

USER_PRESENT = 0x01
USER_VERIFIED = 0x04
ATTESTED_DATA = 0x40
AAGUID = bytes(16)


class SoftAuthenticator:
    """One passkey on one authenticator, for the relying party `rp_id` at `origin`."""

    def __init__(self, rp_id: str, origin: str) -> None:
        self.rp_id = rp_id
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0
        self.user_handle: bytes | None = None

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        verified: bool = True,
    ) -> dict[str, Any]:
        """The answer to creation options: a new credential with a "none" attestation."""
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = self._authenticator_data(
            rp_id, verified, ATTESTED_DATA, self._attested_credential()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        verified: bool = True,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """The answer to request options: an assertion signed by this credential's key.

        The counter moves on by one, unless `sign_count` sets it.
        """
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._authenticator_data(rp_id, verified, 0, b"")
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = bytes_to_base64url(self.user_handle)
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
        }

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _authenticator_data(
        self, rp_id: str | None, verified: bool, flags: int, attested: bytes
    ) -> bytes:
        rp_id_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        flags |= USER_PRESENT | (USER_VERIFIED if verified else 0)
        return rp_id_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + attested

    def _attested_credential(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        cose_key = {
            1: 2,  # kty: EC2
            3: -7,  # alg: ES256
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        credential = struct.pack(">H", len(self.credential_id)) + self.credential_id
        return AAGUID + credential + cbor2.dumps(cose_key)
