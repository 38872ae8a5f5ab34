"""Argon2id password hashing (argon2-cffi), and the list of passwords too common to accept.

Tests use cheaper hashing parameters, never production. Argon2 hashes the whole password (no
72-byte truncation as with bcrypt), so every character of a 128-character password counts.

`common_passwords.txt` holds the 5,000 most frequent entries of the 20,000-password list that
Django ships (django/contrib/auth/common-passwords.txt.gz, BSD licence, itself from Royce
Williams' compilation of leaked-password frequencies), every entry of 10 characters or more of
that list, and a few long keyboard walks and French favourites, folded to lower case.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

_DEFAULT = PasswordHasher()  # Argon2id with the library's current RFC 9106 defaults
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher() -> PasswordHasher:
    return _FAST if current_app.config.get("PASSWORD_HASH_FAST") else _DEFAULT


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Same work as a real check, so a missing account does not answer faster.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as f:
        return frozenset(line.strip().casefold() for line in f if line.strip())


def is_common_password(password: str) -> bool:
    """Case-insensitive: `Password1234` is as guessable as `password1234`."""
    return password.casefold() in _common_passwords()
