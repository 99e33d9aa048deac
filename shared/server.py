"""The entry point both services share: ``python -m <service> [serve|migrate]``."""

from __future__ import annotations

import argparse
import importlib.resources
from pathlib import Path

import uvicorn

from shared.header_deadline import HeaderDeadlineProtocol
from shared.logging_setup import configure_logging
from shared.migrations import upgrade_database
from shared.settings import ServiceSettings


def main(service: str, settings: ServiceSettings, argv: list[str] | None = None) -> None:
    """Each service package has ``main.create_app`` and its ``alembic.ini``."""
    app_factory = f"{service}.main:create_app"
    alembic_ini = Path(str(importlib.resources.files(service) / "alembic.ini"))
    parser = argparse.ArgumentParser(prog=f"python -m {service}")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate"],
        help="serve (default): migrate, then serve; migrate: only apply migrations",
    )
    args = parser.parse_args(argv)
    configure_logging(service, settings.log_level, settings.log_format)
    upgrade_database(alembic_ini, settings.database_url)
    if args.command == "migrate":
        return
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        # Not uvicorn's: it would take the client address from an X-Forwarded-For that a
        # client can write. The gateway's X-Real-IP is read by shared.request_context.
        proxy_headers=False,
        http=HeaderDeadlineProtocol.with_deadline(settings.header_timeout_s),
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
    )
