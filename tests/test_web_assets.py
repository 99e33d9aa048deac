"""The page's files as committed: names that hash their content (so a year of immutable
caching is right), references that resolve, nothing fetched from elsewhere, nothing inline
that the Content-Security-Policy would block."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from devstack import web_assets
from devstack.gateway import WEB_ROOT
from devstack.web_assets import AssetError, Page, content_hash, fingerprint, problems


def test_committed_names_match_their_contents() -> None:
    assert problems(Page.read()) == [], "run: python -m devstack.web_assets"


def test_every_asset_name_carries_the_hash_of_its_content() -> None:
    page = Page.read()
    assert page.assets, "web/assets is empty"
    for name, content in page.assets.items():
        _stem, digest, _ext = name.rsplit(".", 2)
        assert digest == content_hash(content), name


@pytest.fixture
def web_copy(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    shutil.copytree(WEB_ROOT, root)
    return root


def only(root: Path, stem: str) -> Path:
    [path] = (root / "assets").glob(f"{stem}.*.js")
    return path


def test_an_edit_is_caught_and_the_script_renames_up_to_the_page(web_copy: Path) -> None:
    dom = only(web_copy, "dom")
    dom.write_text(dom.read_text() + "\n// an edit\n")
    found = problems(Page.read(web_copy))
    assert f"assets/{dom.name}: its name does not match its content" in found
    assert any("index.html" in problem for problem in found)

    assert web_assets.main(["--root", str(web_copy)]) == 0
    assert problems(Page.read(web_copy)) == []
    assert not dom.exists()
    renamed = only(web_copy, "dom")
    assert renamed.read_text().endswith("// an edit\n")
    # Everything that imports dom.js got a new name too, up to the entry point in index.html.
    app = only(web_copy, "app")
    assert app.name not in {p.name for p in (WEB_ROOT / "assets").iterdir()}
    assert f"/assets/{app.name}" in (web_copy / "index.html").read_text()
    assert web_assets.main(["--root", str(web_copy), "--check"]) == 0


def test_a_new_plain_file_gets_a_hashed_name(web_copy: Path) -> None:
    (web_copy / "assets" / "extra.js").write_text("export const extra = 1;\n")
    app = only(web_copy, "app")
    app.write_text('import { extra } from "./extra.js";\n' + app.read_text())
    web_assets.main(["--root", str(web_copy)])
    extra = only(web_copy, "extra")
    assert extra.name == f"extra.{content_hash(extra.read_bytes())}.js"
    assert f'"./{extra.name}"' in only(web_copy, "app").read_text()
    assert problems(Page.read(web_copy)) == []


def test_dangling_and_unused_files_are_reported(web_copy: Path) -> None:
    (web_copy / "assets" / f"orphan.{content_hash(b'x')}.js").write_bytes(b"x")
    app = only(web_copy, "app")
    app.write_text(app.read_text() + '\nimport "./gone.0123456789.js";\n')
    web_assets.main(["--root", str(web_copy)])
    found = problems(Page.read(web_copy))
    assert any("gone.0123456789.js, which is no file" in p for p in found), found
    assert any(p.startswith("assets/orphan.") and "not used" in p for p in found), found


def test_a_cycle_is_refused() -> None:
    page = Page(
        html=b'<script type="module" src="/assets/a.js"></script>',
        assets={"a.js": b'import "./b.js";', "b.js": b'import "./a.js";'},
    )
    with pytest.raises(AssetError, match="cycle"):
        fingerprint(page)


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for path in [WEB_ROOT / "index.html", *(WEB_ROOT / "assets").iterdir()]:
        text = path.read_text(encoding="utf-8")
        # SVG's namespace is a name, not a request.
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name


def test_nothing_inline_that_the_policy_blocks() -> None:
    html = (WEB_ROOT / "index.html").read_text(encoding="utf-8")
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert script.strip() == "", "inline script"
    assert "javascript:" not in html
