"""The admin's settings, its password hash (and the command that makes one), its cookies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from audio_service.settings import AudioSettings
from quiz_service.settings import QuizSettings
from shared.admin.password import is_password_hash, password_matches
from shared.admin.responses import confine_cookie
from shared.settings import ServiceSettings

SECRET_KEY = "k" * 32


def hash_command(password: str) -> subprocess.CompletedProcess[str]:
    """``python -m shared.admin.password`` with the password on its standard input."""
    return subprocess.run(
        [sys.executable, "-m", "shared.admin.password"],
        input=f"{password}\n",
        capture_output=True,
        text=True,
    )


def make_hash(password: str) -> str:
    result = hash_command(password)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def test_the_command_prints_an_argon2id_hash_of_the_password() -> None:
    password_hash = make_hash("a long admin password")
    assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await password_matches(password_hash, "a long admin password")
    assert not await password_matches(password_hash, "a long admin passwore")
    assert not await password_matches("not a hash", "a long admin password")


@pytest.mark.parametrize("password", ["", "too short"])
def test_the_command_refuses_an_empty_or_short_password(password: str) -> None:
    result = hash_command(password)
    assert result.returncode != 0
    assert result.stdout == ""


# Both services: a subclass validator of the same name once replaced the shared one.
@pytest.mark.parametrize("settings", [QuizSettings, AudioSettings])
def test_the_admin_is_off_by_default_and_an_empty_value_means_unset(
    settings: type[ServiceSettings],
) -> None:
    assert not settings().admin_enabled
    # What compose passes for an unset variable.
    assert not settings(admin_password_hash="", admin_secret_key="").admin_enabled
    assert not settings(admin_password_hash="", admin_secret_key=" ").admin_enabled


def test_a_password_hash_needs_a_long_secret_key() -> None:
    password_hash = make_hash("a long admin password")
    assert QuizSettings(
        admin_password_hash=password_hash, admin_secret_key=SECRET_KEY
    ).admin_enabled
    for key in (None, "short"):
        with pytest.raises(ValidationError, match="secret key of 32"):
            QuizSettings(admin_password_hash=password_hash, admin_secret_key=key)


@pytest.mark.parametrize(
    "value",
    [
        "plaintext password",
        "$2b$12$abcdefghijklmnopqrstuuH7ZG1uU6ZKJ0zH3hUOS5pP7p8ODz1zG",  # bcrypt
        "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",  # not argon2id
    ],
)
def test_only_an_argon2id_hash_is_accepted(value: str) -> None:
    assert not is_password_hash(value)
    with pytest.raises(ValidationError, match="Argon2id hash"):
        QuizSettings(admin_password_hash=value, admin_secret_key=SECRET_KEY)


def test_cookies_get_the_admins_path_samesite_and_httponly() -> None:
    confined = confine_cookie("session=abc; Path=/; SameSite=lax", path="/admin/q/", secure=False)
    assert confined == "session=abc; HttpOnly; Path=/admin/q/; SameSite=Strict"
    secure = confine_cookie("session=abc; Max-Age=60", path="/admin/q/", secure=True)
    assert secure == "session=abc; HttpOnly; Max-Age=60; Path=/admin/q/; SameSite=Strict; Secure"
    csrf = confine_cookie("starlette_admin_csrftoken=t; HttpOnly", path="/admin/q/", secure=True)
    assert csrf == "starlette_admin_csrftoken=t; Path=/admin/q/; SameSite=Strict; Secure"
