"""The admin password: stored only as an Argon2id hash (argon2-cffi), checked off the loop.

``python -m shared.admin.password`` asks for a password twice (or reads one line from a pipe)
and prints its hash, for ``QUIZ_ADMIN_PASSWORD_HASH`` / ``AUDIO_ADMIN_PASSWORD_HASH``. The hash
is argon2-cffi's default profile (RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes),
in the PHC string format that names its own parameters, so a hash made with other parameters
is checked with those.
"""

from __future__ import annotations

import getpass
import sys

import anyio.to_thread
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def is_password_hash(value: str) -> bool:
    """Whether ``value`` is an Argon2id hash in the PHC string format."""
    try:
        return extract_parameters(value).type is Type.ID
    except InvalidHashError:
        return False


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(password_hash: str, password: str) -> bool:
    """Checks ``password`` in a worker thread: a check costs tens of milliseconds of CPU."""
    return await anyio.to_thread.run_sync(_matches, password_hash, password)


def main() -> None:
    if sys.stdin.isatty():
        password = getpass.getpass("Admin password: ")
        if getpass.getpass("Again: ") != password:
            sys.exit("The two passwords differ.")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        sys.exit(f"Use a password of {MIN_PASSWORD_LENGTH} characters or more.")
    print(hash_password(password))


if __name__ == "__main__":
    main()
