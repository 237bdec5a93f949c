"""Secrets at rest: MultiFernet over FIELD_ENCRYPTION_KEY (the first key encrypts, every key
decrypts), so keys rotate by prepending a new one and re-encrypting (`rotate`)."""
from __future__ import annotations

from cryptography.fernet import InvalidToken, MultiFernet, Fernet
from django.conf import settings

from crm.integrations.errors import UnreadableSecrets


def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEY
    return MultiFernet([Fernet(key) for key in ([keys] if isinstance(keys, str) else keys)])


def encrypt(text: str) -> str:
    """`text` encrypted with the first key."""
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    """The text of `token`; UnreadableSecrets when no key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UnreadableSecrets() from None


def rotate(token: str) -> str:
    """`token` re-encrypted with the first key (it may have been written with any of them)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise UnreadableSecrets() from None
