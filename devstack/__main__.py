"""``python -m devstack run``: the whole system in the foreground on 127.0.0.1 (``make run``).

Defaults: embedded SQLite under ``var/data``, the bundled jservice emulator as the quiz
upstream, gateway on 8080. Every setting in the environment wins over these defaults.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.gateway import GATEWAY_DEFAULTS, NGINX_INSTALL_HINT
from devstack.stack import LocalStack, StackConfig, gateway_available

ROOT = Path(__file__).resolve().parents[1]


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def build_config() -> StackConfig:
    env = {
        "QUIZ_DATABASE_URL": os.environ.get(
            "QUIZ_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT}/var/data/quiz.db"
        ),
        "AUDIO_DATABASE_URL": os.environ.get(
            "AUDIO_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT}/var/data/audio.db"
        ),
        "QUIZ_LOG_FORMAT": os.environ.get("QUIZ_LOG_FORMAT", "text"),
        "AUDIO_LOG_FORMAT": os.environ.get("AUDIO_LOG_FORMAT", "text"),
    }
    use_emulator = "QUIZ_UPSTREAM_URL" not in os.environ
    return StackConfig(
        workdir=ROOT / "var" / "run",
        gateway_port=_port("GATEWAY_PORT", 8080),
        quiz_ports=[_port("QUIZ_PORT", 8001)],
        audio_ports=[_port("AUDIO_PORT", 8002)],
        emulator_port=_port("EMULATOR_PORT", 9000) if use_emulator else None,
        env=env,
        gateway_settings={k: os.environ[k] for k in GATEWAY_DEFAULTS if k in os.environ},
        with_gateway=gateway_available(),
        log_to_files=False,
    )


def run() -> int:
    config = build_config()
    stack = LocalStack(config)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack.start()
    quiz, audio = stack.service_url("quiz-0"), stack.service_url("audio-0")
    if stack.gateway is not None:
        print(
            f"open {stack.gateway_url}/ in a browser (API docs: "
            f"{stack.gateway_url}/services/quiz/docs and {stack.gateway_url}/services/audio/docs;"
            f" admin, once its password is set: {stack.gateway_url}/admin/)"
            "; Ctrl-C stops everything",
            file=sys.stderr,
        )
    else:
        print(
            f"nginx is missing, so no gateway ({NGINX_INSTALL_HINT}); serving quiz at {quiz} "
            f"and audio at {audio}; Ctrl-C stops everything",
            file=sys.stderr,
        )
    reported: set[str] = set()
    try:
        while not stopping.wait(0.5):
            # A dead child is reported, not fatal: the gateway keeps answering for the rest
            # (502 problem+json for the dead service's paths), as it would in production.
            for name, process in stack.processes.items():
                if not process.running() and name not in reported:
                    reported.add(name)
                    print(f"{name} exited; Ctrl-C stops the rest", file=sys.stderr)
        return 1 if reported else 0
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["run"])
    parser.parse_args()
    sys.exit(run())


if __name__ == "__main__":
    main()
