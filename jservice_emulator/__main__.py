"""``python -m jservice_emulator [--host H] [--port P]``; flags override ``EMULATOR_*``."""

from __future__ import annotations

import argparse

import uvicorn

from jservice_emulator.app import create_app
from jservice_emulator.settings import EmulatorSettings


def main(argv: list[str] | None = None) -> None:
    settings = EmulatorSettings()
    parser = argparse.ArgumentParser(
        prog="python -m jservice_emulator",
        description="A jservice-compatible quiz upstream. Flags override EMULATOR_* settings.",
    )
    parser.add_argument("--host", default=settings.host, help="default: %(default)s")
    parser.add_argument("--port", type=int, default=settings.port, help="default: %(default)s")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    args = parser.parse_args(argv)
    settings = settings.model_copy(update={"host": args.host, "port": args.port})
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
