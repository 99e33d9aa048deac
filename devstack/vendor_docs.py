"""``python -m devstack.vendor_docs``: fetch Swagger UI and ReDoc from npm into shared/docs_assets.

Run it once per version change (it needs ``npm``; nothing else does): it packs the pinned
versions below with ``npm pack`` (which checks each tarball against the registry's
integrity hash), copies the files the docs pages use together with their licenses, and
writes ``vendor.json`` (package, version, integrity, files). The result is committed, so
the services, ``make run`` and the tests need neither Node nor the network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.gateway import REPO_ROOT

ASSETS = REPO_ROOT / "shared" / "docs_assets"


@dataclass(frozen=True)
class Vendored:
    package: str
    version: str
    directory: str  # under shared/docs_assets
    files: tuple[str, ...]  # paths inside the npm package


PACKAGES = (
    Vendored(
        "swagger-ui-dist",
        "5.35.0",
        "swagger-ui",
        (
            "swagger-ui-bundle.js",
            "swagger-ui-bundle.js.LICENSE.txt",
            "swagger-ui.css",
            "favicon-32x32.png",
            "LICENSE",
            "NOTICE",
        ),
    ),
    # ReDoc 2: ReDoc 3 reports usage to its vendor and loads icons from its CDN.
    Vendored(
        "redoc",
        "2.5.4",
        "redoc",
        ("bundles/redoc.standalone.js", "bundles/redoc.standalone.js.LICENSE.txt", "LICENSE"),
    ),
)


def _pack(spec: str, workdir: Path) -> tuple[Path, str]:
    """``npm pack spec`` into ``workdir``: the tarball and its integrity string."""
    result = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    (info,) = json.loads(result.stdout)
    return workdir / info["filename"], str(info["integrity"])


def vendor(target: Path = ASSETS) -> list[dict[str, Any]]:
    manifest: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vendor-docs-") as tmp:
        workdir = Path(tmp)
        for item in PACKAGES:
            tarball, integrity = _pack(f"{item.package}@{item.version}", workdir)
            unpacked = workdir / item.package
            with tarfile.open(tarball) as archive:
                archive.extractall(unpacked, filter="data")
            destination = target / item.directory
            shutil.rmtree(destination, ignore_errors=True)
            destination.mkdir(parents=True)
            for name in item.files:
                shutil.copyfile(unpacked / "package" / name, destination / Path(name).name)
            manifest.append(
                {
                    "package": item.package,
                    "version": item.version,
                    "integrity": integrity,
                    "directory": item.directory,
                    "files": sorted(Path(name).name for name in item.files),
                }
            )
    (target / "vendor.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    argparse.ArgumentParser(prog="python -m devstack.vendor_docs", description=__doc__).parse_args()
    for entry in vendor():
        print(f"{entry['package']} {entry['version']}: {', '.join(entry['files'])}")


if __name__ == "__main__":
    main()
