"""``python -m audio_service storage …``: the storage commands, for operators and cron.

- ``sweep [--grace-s S]``: one sweep (``storage_sweep``); ``--grace-s 0`` also takes uploads
  that may still be in progress, so use it only when no instance is serving;
- ``migrate --to s3|postgres``: move every record's bytes there (``storage_migrate``),
  resumable and idempotent; one JSON line per record on stdout;
- ``status``: records per backend and state.

Each applies the migrations first (like ``serve``), reads the same ``AUDIO_*`` settings as
the service, and exits 0 on success, 1 when something was left undone.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import logging
from pathlib import Path

from audio_service import repository
from audio_service.resources import open_storages
from audio_service.settings import AudioSettings
from audio_service.storage_migrate import migrate
from audio_service.storage_sweep import sweep
from shared.db import Database
from shared.logging_setup import configure_logging
from shared.migrations import upgrade_database

log = logging.getLogger("audio.storage")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m audio_service storage")
    commands = parser.add_subparsers(dest="command", required=True)
    sweep_parser = commands.add_parser("sweep", help="remove what failed writes left behind")
    sweep_parser.add_argument(
        "--grace-s",
        type=float,
        default=None,
        help="age after which pending uploads count as abandoned (AUDIO_STORAGE_SWEEP_GRACE_S)",
    )
    migrate_parser = commands.add_parser("migrate", help="move every record's bytes")
    migrate_parser.add_argument("--to", required=True, choices=["s3", "postgres"])
    commands.add_parser("status", help="records per backend and state")
    return parser


async def _run(args: argparse.Namespace, settings: AudioSettings) -> int:
    database = Database.from_settings(settings, "audio_service-storage")
    try:
        async with open_storages(settings, database) as storages:
            if args.command == "sweep":
                grace = settings.storage_sweep_grace_s if args.grace_s is None else args.grace_s
                report = await sweep(database, storages, grace_s=grace)
                print(json.dumps({"sweep": vars(report)}), flush=True)
                return 0 if not report.skipped else 1
            if args.command == "migrate":
                result = await migrate(database, storages, args.to, tmp_dir=settings.tmp_dir)
                print(json.dumps({"migrate": vars(result)}), flush=True)
                return 0 if not result.corrupt else 1
            async with database.unit_of_work() as session:
                counts = await repository.storage_counts(session)
            rows = [{"storage": s, "state": st, "records": n} for (s, st), n in counts.items()]
            print(json.dumps({"status": rows}), flush=True)
            return 0
    finally:
        await database.dispose()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = AudioSettings()
    configure_logging("audio_service", settings.log_level, settings.log_format)
    alembic_ini = Path(str(importlib.resources.files("audio_service") / "alembic.ini"))
    upgrade_database(alembic_ini, settings.database_url)
    return asyncio.run(_run(args, settings))
