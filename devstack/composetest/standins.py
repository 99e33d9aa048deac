"""Stand-ins for the base images, built from Debian's packages with mmdebstrap.

No container registry is reachable here, so ``python:3.11-slim``, ``postgres:16-alpine`` and
``nginx:1.27-alpine`` are made locally under those names (in podman's storage only) from
Debian 12's packages: Python 3.11 as a venv at /usr/local, PostgreSQL 15 (Debian 12 has no 16)
and nginx 1.22 with entrypoints that do what docker-compose.yml uses of the official ones
(deploy/standins/). Each image carries the host's CA certificates, apt sources and pip index
settings, so ``apt-get`` and ``pip install`` in builds reach the registries as the host does.

An image is rebuilt only when its recipe changes: the hash of everything that goes into it
(the recipe below, its files, the host settings carried) is a label on the image.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devstack.composetest.podman import WORK_DIR, PodmanError, image_label, inspect, podman
from devstack.gateway import REPO_ROOT

STANDINS_DIR = REPO_ROOT / "deploy" / "standins"
SUITE = "bookworm"
HASH_LABEL = "io.quiz-audio.standin-hash"
FALLBACK_MIRROR = "http://deb.debian.org/debian"

HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
HOST_APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
HOST_APT_CONF_DIR = Path("/etc/apt/apt.conf.d")
APT_REACH_SETTING = re.compile(
    r"^\s*Acquire::(https?|ftp|Check-Valid-Until|Check-Date|Retries)\b", re.M
)
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# pip settings that say where the indexes are and how to reach them; local paths and file://
# indexes are left out (a build container cannot see the host's files).
PIP_NETWORK_KEYS = frozenset(
    {
        "index-url",
        "extra-index-url",
        "trusted-host",
        "proxy",
        "timeout",
        "default-timeout",
        "retries",
    }
)
PIP_URL_KEYS = frozenset({"index-url", "extra-index-url"})

# As Debian's own slim images: no docs, man pages or translations.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)

BASE_PACKAGES = ("ca-certificates",)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class StandIn:
    """One stand-in image: what goes in, and the image config the official one has."""

    key: str
    image: str
    real: str
    """The official image it stands in for, as the README describes it."""
    version: str
    """What the stand-in really runs."""
    packages: tuple[str, ...]
    hooks: tuple[str, ...]
    """mmdebstrap customize hooks, in order ("$1" is the new root)."""
    changes: tuple[str, ...]
    """podman import --change instructions (ENV, ENTRYPOINT, CMD...)."""

    @property
    def files_dir(self) -> Path:
        return STANDINS_DIR / self.key


def _copy_in(name: str, destination: str, key: str) -> str:
    return f"copy-in {shlex.quote(str(STANDINS_DIR / key / name))} {shlex.quote(destination)}"


PYTHON = StandIn(
    key="python",
    image="docker.io/library/python:3.11-slim",
    real="python:3.11-slim (Python 3.11.x built from source on Debian 12)",
    version="Debian 12's python3 3.11.2, as a venv at /usr/local (so /usr/local/bin/python "
    "and pip are the venv's, as in the official image)",
    packages=("python3", "python3-venv"),
    hooks=('chroot "$1" python3 -m venv /usr/local',),
    changes=(f"ENV PATH={SYSTEM_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]'),
)

POSTGRES = StandIn(
    key="postgres",
    image="docker.io/library/postgres:16-alpine",
    real="postgres:16-alpine (PostgreSQL 16 on Alpine)",
    version="Debian 12's PostgreSQL 15 (Debian 12 has no 16), with an entrypoint that honours "
    "POSTGRES_USER/PASSWORD/DB and /docker-entrypoint-initdb.d and runs as postgres",
    packages=("postgresql-15",),
    hooks=(
        # The package makes a cluster of its own; the entrypoint makes PGDATA's on first start.
        'rm -rf "$1/etc/postgresql/15" "$1/var/lib/postgresql/15"',
        'mkdir -p "$1/docker-entrypoint-initdb.d" "$1/var/lib/postgresql/data"',
        _copy_in("docker-entrypoint.sh", "/usr/local/bin/", "postgres"),
        'chroot "$1" chown postgres:postgres /var/lib/postgresql/data',
    ),
    changes=(
        f"ENV PATH=/usr/lib/postgresql/15/bin:{SYSTEM_PATH}",
        "ENV PGDATA=/var/lib/postgresql/data",
        "ENV LANG=C.UTF-8",
        "VOLUME /var/lib/postgresql/data",
        "EXPOSE 5432",
        "STOPSIGNAL SIGINT",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        'CMD ["postgres"]',
    ),
)

NGINX = StandIn(
    key="nginx",
    image="docker.io/library/nginx:1.27-alpine",
    real="nginx:1.27-alpine (nginx 1.27 on Alpine, busybox wget)",
    version="Debian 12's nginx 1.22, the official image's nginx.conf and templates/envsubst "
    "entrypoint, a system user nginx, GNU wget for the healthcheck",
    packages=("nginx", "gettext-base", "wget", "mawk"),
    hooks=(
        'chroot "$1" useradd --system --user-group --no-create-home --home-dir /nonexistent '
        "--shell /usr/sbin/nologin nginx",
        'rm -f "$1"/etc/nginx/sites-enabled/* "$1"/etc/nginx/conf.d/*',
        _copy_in("nginx.conf", "/etc/nginx/", "nginx"),
        _copy_in("docker-entrypoint.sh", "/", "nginx"),
        'mkdir -p "$1/etc/nginx/templates" "$1/var/cache/nginx"',
        'chroot "$1" chown nginx:nginx /var/cache/nginx',
        # As the official image: the logs are the container's output.
        'ln -sf /dev/stdout "$1/var/log/nginx/access.log"',
        'ln -sf /dev/stderr "$1/var/log/nginx/error.log"',
    ),
    changes=(
        "EXPOSE 80",
        "STOPSIGNAL SIGQUIT",
        'ENTRYPOINT ["/docker-entrypoint.sh"]',
        'CMD ["nginx", "-g", "daemon off;"]',
    ),
)

STANDINS: tuple[StandIn, ...] = (PYTHON, POSTGRES, NGINX)


# --- what the host carries into the images -----------------------------------------------


def host_ca_certificates() -> list[Path]:
    if not HOST_CA_DIR.is_dir():
        return []
    return sorted(path for path in HOST_CA_DIR.rglob("*.crt") if path.is_file())


def host_apt_sources() -> list[Path]:
    """The host's active apt source files (apt reads only these names)."""
    single, directory = HOST_APT_SOURCES
    found = [single] if single.is_file() and single.read_text().strip() else []
    if directory.is_dir():
        found += sorted(
            path for path in directory.iterdir() if path.suffix in {".list", ".sources"}
        )
    return found


def host_apt_settings() -> list[Path]:
    """apt.conf.d files that say how the archive is reached (proxies, CA, date checks,
    retries); the rest are about this host's own housekeeping."""
    if not HOST_APT_CONF_DIR.is_dir():
        return []
    return sorted(
        path
        for path in HOST_APT_CONF_DIR.iterdir()
        if path.is_file() and APT_REACH_SETTING.search(path.read_text(errors="replace"))
    )


def host_pip_settings() -> dict[str, str]:
    """The host's pip settings that say how to reach the indexes (``pip config list``)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, raw = line.partition("=")
        key = name.rpartition(".")[2]
        if key not in PIP_NETWORK_KEYS or not raw:
            continue
        value = raw.strip().strip("'\"")
        if key in PIP_URL_KEYS:
            value = " ".join(url for url in value.split() if url.startswith(("http:", "https:")))
        if value:
            settings[key] = value
    return settings


def pip_conf(settings: dict[str, str]) -> str:
    lines = ["[global]", f"cert = {IMAGE_CA_BUNDLE}"]
    lines += [f"{key} = {value}" for key, value in sorted(settings.items())]
    return "\n".join(lines) + "\n"


# --- building ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostSettings:
    ca_certificates: tuple[Path, ...]
    apt_sources: tuple[Path, ...]
    apt_settings: tuple[Path, ...]
    pip_conf: str

    @classmethod
    def read(cls) -> HostSettings:
        return cls(
            tuple(host_ca_certificates()),
            tuple(host_apt_sources()),
            tuple(host_apt_settings()),
            pip_conf(host_pip_settings()),
        )


def recipe_hash(standin: StandIn, host: HostSettings) -> str:
    """Changes whenever anything that goes into the image changes."""
    digest = hashlib.sha256()
    digest.update(json.dumps([SUITE, DPKG_EXCLUDES, BASE_PACKAGES]).encode())
    digest.update(json.dumps([standin.packages, standin.hooks, standin.changes]).encode())
    files = sorted(standin.files_dir.iterdir()) if standin.files_dir.is_dir() else []
    for path in [*files, *host.ca_certificates, *host.apt_sources, *host.apt_settings]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(host.pip_conf.encode())
    return digest.hexdigest()[:16]


def is_current(standin: StandIn, wanted_hash: str) -> bool:
    return image_label(standin.image, HASH_LABEL) == wanted_hash


def mmdebstrap_command(standin: StandIn, host: HostSettings, tarball: Path) -> list[str]:
    staging = WORK_DIR / "standins" / standin.key
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "pip.conf").write_text(host.pip_conf)
    hooks: list[str] = []
    for cert in host.ca_certificates:
        relative = cert.relative_to(HOST_CA_DIR)
        target = f"/usr/local/share/ca-certificates/{relative.parent}/".replace("/./", "/")
        hooks.append(f'mkdir -p "$1{target}"')
        hooks.append(f"copy-in {shlex.quote(str(cert))} {shlex.quote(target)}")
    hooks.append('chroot "$1" update-ca-certificates')
    hooks.append(f"copy-in {shlex.quote(str(staging / 'pip.conf'))} /etc/")
    hooks.extend(standin.hooks)
    mirrors = [str(path) for path in host.apt_sources] or [FALLBACK_MIRROR]
    return [
        "mmdebstrap",
        "--variant=apt",
        "--format=tar",
        '--aptopt=APT::Install-Recommends "false"',
        *(f"--aptopt={path}" for path in host.apt_settings),
        *(f"--dpkgopt={option}" for option in DPKG_EXCLUDES),
        f"--include={','.join((*BASE_PACKAGES, *standin.packages))}",
        *(f"--customize-hook={hook}" for hook in hooks),
        SUITE,
        str(tarball),
        *mirrors,
    ]


def build(standin: StandIn, host: HostSettings, wanted_hash: str) -> None:
    """mmdebstrap a root file system, then import it into podman under the official name."""
    work = WORK_DIR / "standins" / standin.key
    work.mkdir(parents=True, exist_ok=True)
    tarball = work / "rootfs.tar"
    log_path = work / "mmdebstrap.log"
    with log_path.open("w") as log:
        result = subprocess.run(
            mmdebstrap_command(standin, host, tarball),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise PodmanError(f"mmdebstrap of the {standin.key} stand-in failed:\n{tail}")
    previous = [image.get("Id") for image in inspect("image", [standin.image])]
    changes = [*standin.changes, f"LABEL {HASH_LABEL}={wanted_hash}"]
    try:
        podman(
            "import",
            *(f"--change={change}" for change in changes),
            str(tarball),
            standin.image,
        )
    finally:
        tarball.unlink(missing_ok=True)
    for image_id in previous:
        if isinstance(image_id, str):
            # The old stand-in, now untagged; still used by a container it stays.
            podman("rmi", image_id, check=False)


def ensure_standins(standins: Sequence[StandIn] = STANDINS) -> list[str]:
    """Build the stand-ins whose recipe changed (in parallel); the keys of those built."""
    host = HostSettings.read()
    wanted = {standin.key: recipe_hash(standin, host) for standin in standins}
    stale = [standin for standin in standins if not is_current(standin, wanted[standin.key])]
    if not stale:
        return []
    print(
        f"compose-test: building stand-ins {', '.join(s.key for s in stale)} with mmdebstrap",
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=len(stale)) as pool:
        futures = [pool.submit(build, standin, host, wanted[standin.key]) for standin in stale]
        for future in futures:
            future.result()
    return [standin.key for standin in stale]
