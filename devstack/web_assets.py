"""``python -m devstack.web_assets``: give every file of the page a name that hashes its content.

The gateway serves ``web/index.html`` with revalidation and everything under ``web/assets/``
with a one-year immutable cache, which is only right if a file's name changes whenever its
content does. So every asset is named ``<stem>.<hash>.<ext>``, where the hash is the first
10 hex digits of the SHA-256 of its content, and every reference to it (in index.html and in
the other assets: module imports, the worklet URL, the stylesheet, the icon) is written as
``/assets/<stem>.<hash>.<ext>`` or ``./<stem>.<hash>.<ext>``.

After editing an asset (or adding one as plain ``<stem>.<ext>``), run this script: it renames
what changed and rewrites the references, repeating until nothing moves (a module's content
holds the names of what it imports, so a change ripples up to index.html). No Node, no build
step: the committed files are what nginx serves. ``--check`` changes nothing and exits 1 when a
name and its content disagree, a reference points at no file, or a file is not used
(tests/test_web_assets.py runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.gateway import WEB_ROOT

ASSETS_DIR = "assets"
PAGE = "index.html"
HASH_LENGTH = 10
EXTENSIONS = ("js", "css", "svg")

_ASSET_NAME = re.compile(
    rf"^(?P<stem>[a-z0-9][a-z0-9-]*)(?:\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}}))?"
    rf"\.(?P<ext>{'|'.join(EXTENSIONS)})$"
)
# A reference: an absolute /assets/ URL or a module-relative ./ one, hashed or not yet.
_REFERENCE = re.compile(
    rf"(?P<prefix>/{ASSETS_DIR}/|\./)(?P<stem>[a-z0-9][a-z0-9-]*)"
    rf"(?:\.[0-9a-f]{{{HASH_LENGTH}}})?\.(?P<ext>{'|'.join(EXTENSIONS)})\b"
)
# More rounds than this means two assets reference each other: no name can settle.
_MAX_ROUNDS = 20


class AssetError(ValueError):
    """The page's files cannot be named consistently (a cycle, a clash, a bad name)."""


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:HASH_LENGTH]


def hashed_name(stem: str, ext: str, content: bytes) -> str:
    return f"{stem}.{content_hash(content)}.{ext}"


def _key(name: str) -> tuple[str, str]:
    match = _ASSET_NAME.match(name)
    if match is None:
        raise AssetError(
            f"{ASSETS_DIR}/{name}: asset names are <stem>[.<hash>].<ext> with a lowercase stem "
            f"and one of the extensions {', '.join(EXTENSIONS)}"
        )
    return match["stem"], match["ext"]


def _rewrite(text: str, names: Mapping[tuple[str, str], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = names.get((match["stem"], match["ext"]))
        return f"{match['prefix']}{name}" if name is not None else match[0]

    return _REFERENCE.sub(replace, text)


@dataclass(frozen=True)
class Page:
    """index.html and the assets, by file name, as bytes."""

    html: bytes
    assets: Mapping[str, bytes]

    @classmethod
    def read(cls, root: Path = WEB_ROOT) -> Page:
        assets_dir = root / ASSETS_DIR
        return cls(
            html=(root / PAGE).read_bytes(),
            assets={p.name: p.read_bytes() for p in sorted(assets_dir.iterdir()) if p.is_file()},
        )


def fingerprint(page: Page) -> Page:
    """The same page with every asset named after its content and every reference updated."""
    by_key: dict[tuple[str, str], bytes] = {}
    for name, content in page.assets.items():
        key = _key(name)
        if key in by_key:
            raise AssetError(f"two files for {key[0]}.{key[1]} in {ASSETS_DIR}/")
        by_key[key] = content
    html = page.html.decode("utf-8")
    texts = {key: content.decode("utf-8") for key, content in by_key.items()}
    for _ in range(_MAX_ROUNDS):
        names = {key: hashed_name(*key, text.encode()) for key, text in texts.items()}
        rewritten = {key: _rewrite(text, names) for key, text in texts.items()}
        if rewritten == texts:
            return Page(
                html=_rewrite(html, names).encode(),
                assets={names[key]: text.encode() for key, text in texts.items()},
            )
        texts = rewritten
    raise AssetError("the assets reference each other in a cycle: their names cannot settle")


def problems(page: Page) -> list[str]:
    """What is wrong with the page as committed (empty when all is consistent)."""
    found: list[str] = []
    try:
        expected = fingerprint(page)
    except AssetError as exc:
        return [str(exc)]
    for name in sorted(set(page.assets) - set(expected.assets)):
        found.append(f"{ASSETS_DIR}/{name}: its name does not match its content")
    if expected.html != page.html:
        found.append(f"{PAGE}: references assets by names that are not current")
    found += _dangling_or_unused(expected)
    return found


def _dangling_or_unused(page: Page) -> list[str]:
    found: list[str] = []
    documents = {PAGE: page.html, **{f"{ASSETS_DIR}/{n}": c for n, c in page.assets.items()}}
    targets = {
        source: [m[0].removeprefix(m["prefix"]) for m in _REFERENCE.finditer(c.decode("utf-8"))]
        for source, c in documents.items()
    }
    for source, names in targets.items():
        found += [
            f"{source}: references {n}, which is no file" for n in names if n not in page.assets
        ]
    # Everything must be reachable from index.html, else it is dead weight in the cache.
    reachable: set[str] = set()
    todo = [PAGE]
    while todo:
        for target in targets[todo.pop()]:
            if target in page.assets and target not in reachable:
                reachable.add(target)
                todo.append(f"{ASSETS_DIR}/{target}")
    found += [
        f"{ASSETS_DIR}/{name}: not used by {PAGE} (directly or through another asset)"
        for name in sorted(set(page.assets) - reachable)
    ]
    return found


def write(root: Path, before: Page, after: Page) -> list[str]:
    """Apply ``after`` on disk; returns what changed, for the user."""
    changes: list[str] = []
    assets_dir = root / ASSETS_DIR
    for name in sorted(set(before.assets) - set(after.assets)):
        (assets_dir / name).unlink()
    for name, content in sorted(after.assets.items()):
        if before.assets.get(name) != content:
            (assets_dir / name).write_bytes(content)
            changes.append(f"{ASSETS_DIR}/{name}")
    if after.html != before.html:
        (root / PAGE).write_bytes(after.html)
        changes.append(PAGE)
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.web_assets", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=WEB_ROOT, help="the page's directory")
    args = parser.parse_args(argv)
    page = Page.read(args.root)
    if args.check:
        found = problems(page)
        for problem in found:
            print(problem, file=sys.stderr)
        if found:
            print("run: python -m devstack.web_assets", file=sys.stderr)
        return 1 if found else 0
    try:
        after = fingerprint(page)
    except AssetError as exc:
        print(exc, file=sys.stderr)
        return 1
    changes = write(args.root, page, after)
    print("\n".join(f"wrote {change}" for change in changes) or "all names are current")
    leftovers = _dangling_or_unused(after)
    for problem in leftovers:
        print(problem, file=sys.stderr)
    return 1 if leftovers else 0


if __name__ == "__main__":
    raise SystemExit(main())
