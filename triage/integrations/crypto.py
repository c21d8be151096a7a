"""Stored credentials (mailbox passwords, webhook secrets) are encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key derived from
ASSIST_CREDENTIALS_KEY: a database dump alone does not give the passwords away, and
a token altered in the database fails to decrypt instead of yielding a wrong secret.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialError(Exception):
    """A stored credential cannot be decrypted (the key changed, or the row was altered)."""


@functools.lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    # Any long random string works as the environment's key; HKDF turns it into the
    # 32 bytes Fernet wants.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"assist stored credentials").derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def credential_encrypt(plain: str) -> str:
    return _fernet(settings.CREDENTIALS_KEY).encrypt(plain.encode()).decode()


def credential_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(settings.CREDENTIALS_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialError(
            "a stored credential cannot be decrypted: ASSIST_CREDENTIALS_KEY is not the key it was saved with"
        ) from exc
