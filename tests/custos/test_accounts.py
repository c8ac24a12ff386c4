"""Users, roles, passwords and keys: stored hashed, checked per user, expiring."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlmodel import col, select

from custos import passwords
from custos.accounts import (
    authenticate,
    create_api_key,
    create_user,
    get_or_create_user,
    key_owner,
    set_password,
    set_user_active,
    user_by_name,
    user_for_key,
)
from custos.db import session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import ApiKey, User, utcnow


def test_key_is_stored_hashed_and_resolves_to_its_user() -> None:
    user = create_user("alice-keys")
    assert user.id is not None
    key = create_api_key(user.id)
    with session_scope() as s:
        row = s.exec(select(ApiKey).where(col(ApiKey.user_id) == user.id)).one()
        assert key not in (row.key_hash, row.prefix + row.key_hash) and len(row.key_hash) == 64
    found = user_for_key(key)
    assert found is not None and found.username == "alice-keys"
    assert user_for_key(key, username="alice-keys") is not None
    assert user_for_key(key, username="bob") is None
    assert user_for_key(key[:-1] + ("0" if key[-1] != "0" else "1")) is None
    assert user_for_key("") is None


def test_duplicate_user_is_a_conflict() -> None:
    create_user("dup-user")
    with pytest.raises(Conflict):
        create_user("dup-user")
    user, created = get_or_create_user("dup-user")
    assert not created and user.username == "dup-user"


def test_users_get_the_archivist_role_unless_told_otherwise() -> None:
    from custos.accounts import Role

    assert create_user("role-default").role == Role.ARCHIVIST
    admin = create_user("role-admin", role="admin")
    assert admin.role == Role.ADMIN and admin.is_admin
    assert create_user("role-short", is_admin=True).is_admin  # the old keyword
    capture = create_user("role-capture", role=Role.CAPTURE)
    assert capture.role == "capture" and not capture.is_admin
    with pytest.raises(
        InvalidInput, match="unknown role 'root': choose one of admin, archivist, capture, auditor"
    ):
        create_user("role-bad", role="root")
    assert user_by_name("role-bad") is None


def test_set_role_withdraws_cached_credentials_and_names_missing_users() -> None:
    from custos.accounts import credentials_generation, set_role

    create_user("role-change")
    before = credentials_generation()
    assert set_role("role-change", "AUDITOR").role == "auditor"
    assert credentials_generation() != before  # every API credential cache drops out
    assert user_by_name("role-change").role == "auditor"  # type: ignore[union-attr]
    with pytest.raises(NotFound, match="no user named 'nobody-here'"):
        set_role("nobody-here", "admin")
    with pytest.raises(InvalidInput, match="unknown role"):
        set_role("role-change", "superuser")


def test_passwords_are_scrypt_hashed_and_checked() -> None:
    user = create_user("pw-user", password="correct horse")
    stored = user.password_hash or ""
    assert stored.startswith("scrypt$15$8$1$") and "correct horse" not in stored
    assert passwords.check_password("correct horse", stored)
    assert not passwords.check_password("correct hors", stored)
    assert authenticate("pw-user", "correct horse") is not None
    assert authenticate("pw-user", "wrong password") is None
    assert authenticate("no-such-user", "correct horse") is None
    again = create_user("pw-user-2", password="correct horse")
    assert again.password_hash != stored  # salted
    for malformed in (
        "",
        "scrypt$",
        "scrypt$15$8$1$zz$zz",
        "scrypt$99$8$1$00$00",
        "pbkdf2$x$00$00",
        "md5$abc",
        "pbkdf2$1$00",
    ):
        assert not passwords.check_password("correct horse", malformed)
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        create_user("pw-short", password="short")
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        set_password("pw-user", "1234567")
    assert authenticate("pw-user", "correct horse") is not None  # unchanged


def test_old_pbkdf2_hashes_still_work_and_are_upgraded_at_login() -> None:
    salt = bytes(range(16))
    digest = hashlib.pbkdf2_hmac("sha256", b"legacy secret", salt, 200_000)
    legacy = f"pbkdf2$200000${salt.hex()}${digest.hex()}"
    create_user("pw-legacy")
    with session_scope() as s:
        row = s.exec(select(User).where(col(User.username) == "pw-legacy")).one()
        row.password_hash = legacy
    assert passwords.needs_rehash(legacy)
    assert authenticate("pw-legacy", "wrong secret") is None
    assert user_by_name("pw-legacy").password_hash == legacy  # type: ignore[union-attr]
    assert authenticate("pw-legacy", "legacy secret") is not None
    upgraded = user_by_name("pw-legacy").password_hash  # type: ignore[union-attr]
    assert upgraded is not None and upgraded.startswith("scrypt$")
    assert not passwords.needs_rehash(upgraded)
    assert authenticate("pw-legacy", "legacy secret") is not None


def test_inactive_users_cannot_log_in_with_a_password() -> None:
    create_user("pw-inactive", password="a good password")
    set_user_active("pw-inactive", False)
    assert authenticate("pw-inactive", "a good password") is None


def test_expired_keys_are_refused() -> None:
    user = create_user("key-expiry")
    assert user.id is not None
    soon = utcnow() + timedelta(hours=1)
    live = create_api_key(user.id, expires=soon)
    dead = create_api_key(user.id, expires=utcnow() - timedelta(seconds=1))
    owner = key_owner(live)
    assert owner is not None and owner.user.username == "key-expiry"
    assert owner.expires is not None and abs(owner.expires - soon) < timedelta(seconds=1)
    assert owner.role == "archivist"
    assert key_owner(dead) is None and user_for_key(dead) is None
    forever = create_api_key(user.id)
    assert key_owner(forever) is not None and key_owner(forever).expires is None  # type: ignore[union-attr]
