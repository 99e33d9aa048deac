"""``python -m devstack.vendor_docs``: fetch Swagger UI and ReDoc from npm into shared/docs_assets.

Run it once per version change (it needs ``npm``; nothing else does): it packs the pinned
versions below with ``npm pack`` (which checks each tarball against the registry's
integrity hash), copies the files the docs pages use together with their licenses, applies
the few edits listed below (each keeps a page from loading something from another origin),
and writes ``vendor.json`` (package, version, integrity, files, edits). The result is committed, so
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
    # (file, text, replacement): edits that keep a page on its own origin, each text found
    # exactly once; they are listed in vendor.json.
    patches: tuple[tuple[str, str, str], ...] = ()


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
    # ReDoc 2: ReDoc 3 reports usage to its vendor and loads icons from its CDN. ReDoc 2 still
    # loads the little logo of its "API docs by Redocly" link from its CDN: the logo becomes
    # an empty data: URL (the image then hides itself; the link and its text stay).
    Vendored(
        "redoc",
        "2.5.4",
        "redoc",
        ("bundles/redoc.standalone.js", "bundles/redoc.standalone.js.LICENSE.txt", "LICENSE"),
        patches=(
            ("redoc.standalone.js", '"https://cdn.redoc.ly/redoc/logo-mini.svg"', '"data:,"'),
        ),
    ),
)


def _patch(path: Path, text: str, replacement: str) -> None:
    content = path.read_text(encoding="utf-8")
    if content.count(text) != 1:
        raise SystemExit(f"{path.name}: expected {text} exactly once; review the patch")
    path.write_text(content.replace(text, replacement), encoding="utf-8")


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
            for name, text, replacement in item.patches:
                _patch(destination / name, text, replacement)
            manifest.append(
                {
                    "package": item.package,
                    "version": item.version,
                    "integrity": integrity,
                    "directory": item.directory,
                    "files": sorted(Path(name).name for name in item.files),
                    "patches": [
                        {"file": name, "replace": text, "with": replacement}
                        for name, text, replacement in item.patches
                    ],
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
