"""Password hashing: scrypt (memory-hard) for new hashes, PBKDF2 still verified.

A stored hash names its algorithm and parameters, so they can be raised later
without breaking existing passwords:

- ``scrypt$<log2 n>$<r>$<p>$<salt hex>$<hash hex>``: what ``hash_password``
  writes, with n = 2**15, r = 8, p = 1 (32 MiB and about 0.1 s per check, above
  the interactive-login parameters of RFC 7914 and scrypt's paper);
- ``pbkdf2$<iterations>$<salt hex>$<hash hex>`` (PBKDF2-HMAC-SHA256): what Custos
  wrote before; still verified, and ``needs_rehash`` says it should be replaced
  (``custos.accounts.authenticate`` does so at the next successful login).

Digests are compared with ``hmac.compare_digest``; a malformed stored value
never matches and never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCRYPT_LOG2_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
#: OpenSSL's default ceiling (32 MiB) is exactly n * r * 128: leave room.
SCRYPT_MAXMEM = 128 * 1024 * 1024
MIN_LENGTH = 8
MAX_LENGTH = 1024


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=2**log2_n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32
    )


def hash_password(password: str) -> str:
    """The stored form of ``password`` (scrypt, fresh 16-byte salt)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    if not stored:
        return False
    kind, _, rest = stored.partition("$")
    try:
        if kind == "scrypt":
            log2_n, r, p, salt_hex, digest_hex = rest.split("$")
            if not (1 <= int(log2_n) <= 20 and 1 <= int(r) <= 32 and 1 <= int(p) <= 16):
                return False
            found = _scrypt(password, bytes.fromhex(salt_hex), int(log2_n), int(r), int(p))
        elif kind == "pbkdf2":
            iterations, salt_hex, digest_hex = rest.split("$")
            if not 1 <= int(iterations) <= 10_000_000:
                return False
            found = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), bytes.fromhex(salt_hex), int(iterations)
            )
        else:
            return False
        expected = bytes.fromhex(digest_hex)
    except ValueError:  # a malformed stored value: wrong field count, bad hex
        return False
    return hmac.compare_digest(found, expected)


def needs_rehash(stored: str | None) -> bool:
    """Whether ``stored`` was made with other than the current algorithm and cost."""
    return not (stored or "").startswith(f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}$")


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be set, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    return None
