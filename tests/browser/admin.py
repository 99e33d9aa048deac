"""Both services' admins as an operator uses them, in Selenium terms.

The session's stack runs with both admins on (``admin_env``): one password for both, and a
login budget small enough that a test can reach it (``LOGIN_ATTEMPTS_PER_CLIENT``).
"""

from __future__ import annotations

from functools import cache

from shared.admin.password import hash_password

ADMIN_USERNAME = "operator"
ADMIN_PASSWORD = "browser-tests-admin-password"
LOGIN_ATTEMPTS_PER_CLIENT = 4


@cache
def admin_env() -> dict[str, str]:
    password_hash = hash_password(ADMIN_PASSWORD)
    env: dict[str, str] = {}
    for prefix in ("QUIZ", "AUDIO"):
        env |= {
            f"{prefix}_ADMIN_PASSWORD_HASH": password_hash,
            f"{prefix}_ADMIN_SECRET_KEY": f"browser-tests-{prefix.lower()}-admin-key-0123456789",
            f"{prefix}_ADMIN_USERNAME": ADMIN_USERNAME,
            f"{prefix}_ADMIN_LOGIN_ATTEMPTS_PER_CLIENT": str(LOGIN_ATTEMPTS_PER_CLIENT),
        }
    return env
