"""Password hashing with Argon2id (pwdlib's recommended parameters), and generated secrets."""

from __future__ import annotations

import hashlib
import secrets

from pwdlib import PasswordHash

from gridmap.errors import InvalidInputError

MIN_LENGTH = 10
MAX_LENGTH = 256  # Argon2 takes any length; this bounds the work an attacker can ask for
_HASHER = PasswordHash.recommended()
# Verified when the username does not exist, so a login takes as long either way and
# timing does not tell which usernames exist.
_DUMMY = _HASHER.hash("gridmap-no-such-account")


def check_strength(password: str) -> None:
    """Refuse passwords too short or too long, naming the rule."""
    if len(password) < MIN_LENGTH:
        raise InvalidInputError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (after :func:`check_strength`)."""
    check_strength(password)
    return _HASHER.hash(password)


def verify(password: str, hashed: str | None) -> bool:
    """Whether ``password`` matches ``hashed``; ``None`` (no such account) costs the same."""
    if len(password) > MAX_LENGTH:
        return False
    if hashed is None:
        _HASHER.verify(password, _DUMMY)
        return False
    return bool(_HASHER.verify(password, hashed))


def generate(n_bytes: int = 12) -> str:
    """A random password or key (URL-safe, ``n_bytes`` of entropy)."""
    return secrets.token_urlsafe(n_bytes)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (API keys, refresh tokens): fast to check, and the
    stored value is useless to whoever reads it.
    """
    return hashlib.sha256(secret.encode()).hexdigest()
