"""The page as a whole: its small modules checked in the browser against fixed data, names a
screen reader can read, the keyboard path, the layout at 360 px and 1280 px (screenshots kept
under var/browser/screenshots)."""

from __future__ import annotations

import base64
import io
import json
import uuid
import wave
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from devstack.gateway import WEB_ROOT
from testkit.wav import tone_wav
from tests.browser.pages import Page

pytestmark = pytest.mark.browser

# audiowaveform JSON v2, two channels of 16-bit peaks, four pixels: a half-scale pair, silence,
# full scale on one channel, and channels that disagree (-0.25..0 and 0..0.25).
FIXED_PEAKS: dict[str, Any] = {
    "version": 2,
    "channels": 2,
    "sample_rate": 8000,
    "samples_per_pixel": 256,
    "bits": 16,
    "length": 4,
    "data": [
        -16384, 16384, -8192, 8192,
        0, 0, 0, 0,
        -32768, 32767, 0, 0,
        -8192, 0, 0, 8192,
    ],
}  # fmt: skip

# Runs code against one of the page's modules in the page and hands back what it returns.
# (WebDriver evaluates this script itself; the page's CSP rightly forbids eval.)
CALL_MODULE = """
const done = arguments[arguments.length - 1];
import(arguments[0])
  .then(async (module) => {{ {body} }})
  .then((result) => done({{result}}), (error) => done({{error: String(error)}}));
"""


def module_url(stem: str) -> str:
    [path] = (WEB_ROOT / "assets").glob(f"{stem}.*.js")
    return f"/assets/{path.name}"


def call_module(page: Page, stem: str, body: str) -> Any:
    outcome: dict[str, Any] = page.driver.execute_async_script(
        CALL_MODULE.format(body=body), module_url(stem)
    )
    assert "error" not in outcome, outcome["error"]
    return outcome["result"]


def test_waveform_columns_and_drawing_from_fixed_peaks(page: Page) -> None:
    page.driver.set_script_timeout(10)
    result = call_module(
        page,
        "waveform",
        f"""
        const peaks = module.parsePeaks({json.dumps(FIXED_PEAKS)});
        const canvas = document.createElement('canvas');
        canvas.width = 4;
        canvas.height = 100;
        module.drawWaveform(canvas, peaks, {{progress: 0.5, played: '#ff0000',
                                             unplayed: '#0000ff'}});
        const px = canvas.getContext('2d').getImageData(0, 0, 4, 100).data;
        // For each column: the colour of each row ('r', 'b' or '.' when nothing is drawn).
        const rows = [0, 1, 2, 3].map((x) => Array.from({{length: 100}}, (_, y) => {{
          const i = (y * 4 + x) * 4;
          return px[i + 3] === 0 ? '.' : px[i] === 255 ? 'r' : px[i + 2] === 255 ? 'b' : '?';
        }}).join(''));
        return {{
          four: Array.from(module.columns(peaks, 4)),
          two: Array.from(module.columns(peaks, 2)),
          seconds: module.peaksDuration(peaks),
          rows,
        }};
        """,
    )
    full = 32767 / 32768
    assert result["four"] == pytest.approx([-0.5, 0.5, 0, 0, -1, full, -0.25, 0.25])
    assert result["two"] == pytest.approx([-0.5, 0.5, -1, full])
    assert result["seconds"] == pytest.approx(4 * 256 / 8000)
    first, silent, loud, split = result["rows"]
    # Played half in red: max 0.5 down to min -0.5 is rows 25-74 of 100.
    assert first == "." * 25 + "r" * 50 + "." * 25
    assert silent == "." * 50 + "r" + "." * 49
    # Unplayed half in blue: full scale is the whole height, +-0.25 rows 37-62.
    assert loud == "b" * 100
    assert split == "." * 37 + "b" * 26 + "." * 37


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 1}, "version 1, not 2"),
        ({"bits": 12}, "12 bits"),
        ({"length": 5}, "16 values for 5 pixels"),
        ({"data": [40000, *FIXED_PEAKS["data"][1:]]}, "outside 16-bit range"),
        ({"channels": 0}, "bad channels"),
    ],
)
def test_waveform_refuses_malformed_peaks(page: Page, change: dict[str, Any], message: str) -> None:
    error = call_module(
        page,
        "waveform",
        f"""
        try {{ module.parsePeaks({json.dumps({**FIXED_PEAKS, **change})}); return null; }}
        catch (e) {{ return e instanceof module.PeaksFormatError ? e.message : 'other: ' + e; }}
        """,
    )
    assert error is not None
    assert message in error


def test_missing_peaks_draw_nothing(page: Page) -> None:
    page.expect_http_error(404, "/record/peaks")
    peaks = call_module(
        page,
        "waveform",
        f"return await module.loadPeaks('/record/peaks?id={uuid.uuid4()}&user=1&pixels=100');",
    )
    assert peaks is None


def test_wav_built_in_the_browser_reads_back(page: Page) -> None:
    result = call_module(
        page,
        "wav",
        """
        const blob = module.encodeWav([new Int16Array([0, 1000, -1000, 32767]),
                                       new Int16Array([-32768, 7])], 44100, 1);
        const bytes = new Uint8Array(await blob.arrayBuffer());
        return {
          type: blob.type,
          b64: btoa(String.fromCharCode(...bytes)),
          floats: [1, -1, 2, -2, 0.5, -0.5, 0].map(module.floatToInt16),
        };
        """,
    )
    assert result["type"] == "audio/wav"
    with wave.open(io.BytesIO(base64.b64decode(result["b64"]))) as parsed:
        assert (parsed.getnchannels(), parsed.getsampwidth(), parsed.getframerate()) == (
            1,
            2,
            44100,
        )
        frames = parsed.readframes(parsed.getnframes())
    assert [int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, 12, 2)] == [
        0, 1000, -1000, 32767, -32768, 7,
    ]  # fmt: skip
    assert result["floats"] == [32767, -32768, 32767, -32768, 16384, -16384, 0]


INTERACTIVE_ROLES = {
    "button", "link", "textbox", "spinbutton", "slider", "checkbox", "combobox", "meter",
    "progressbar", "timer", "dialog", "DisclosureTriangle", "region", "navigation",
}  # fmt: skip


def unnamed_controls(page: Page) -> list[str]:
    """Controls in Chromium's accessibility tree (what a screen reader gets) without a name."""
    tree = page.driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})
    missing = []
    for node in tree["nodes"]:
        if node.get("ignored"):
            continue
        role = node.get("role", {}).get("value")
        name = str(node.get("name", {}).get("value", "")).strip()
        if role in INTERACTIVE_ROLES and not name:
            missing.append(f"{role} (node {node.get('backendDOMNodeId')})")
    return missing


def sign_up_with_a_record(page: Page, tmp_path: Path) -> str:
    page.create_account(f"reader-{uuid.uuid4().hex[:6]}")
    page.dismiss_token()
    name = "Morning birdsong.wav"
    path = tmp_path / name
    path.write_bytes(tone_wav(523.25, 3.0, sample_rate=22050))
    page.choose_files(path)
    assert page.upload_outcome(name)[0] == "done"
    page.record_item(name)
    return name


def test_every_control_has_a_name(page: Page, tmp_path: Path, expect_missing_peaks: None) -> None:
    assert unnamed_controls(page) == []
    sign_up_with_a_record(page, tmp_path)
    assert unnamed_controls(page) == []
    page.find("#record-list .delete").click()
    page.visible("#confirm-delete")
    assert unnamed_controls(page) == []
    page.find("#confirm-delete button[value=cancel]").click()


def test_sign_up_by_keyboard_alone(page: Page) -> None:
    keys = ActionChains(page.driver)

    def tab_to(element_id: str, limit: int = 12) -> None:
        for _ in range(limit):
            ActionChains(page.driver).send_keys(Keys.TAB).perform()
            if page.driver.switch_to.active_element.get_attribute("id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("user-name")
    focused = page.driver.switch_to.active_element
    assert page.js("return getComputedStyle(arguments[0]).outlineStyle", focused) == "solid"
    keys.send_keys(f"keys-{uuid.uuid4().hex[:6]}", Keys.ENTER).perform()
    # The token panel takes the focus, then the next control is its copy button.
    page.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "token-value")
    tab_to("copy-token", limit=1)
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    page.wait(lambda d: page.text_of("#copy-status") != "")
    tab_to("token-done", limit=1)
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    page.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "add-audio-title")
    # The file picker is reachable and shows where the focus is.
    tab_to("file-input", limit=3)
    label = page.find("label[for=file-input]")
    assert page.js("return getComputedStyle(arguments[0]).outlineStyle", label) == "solid"


def test_layout_at_360_and_1280_px(page: Page, tmp_path: Path, expect_missing_peaks: None) -> None:
    for width, mobile in ((360, True), (1280, False)):
        page.screenshot("signed-out", width, mobile)
        assert page.js("return document.documentElement.scrollWidth") <= width
    sign_up_with_a_record(page, tmp_path)
    page.ask_quiz(1)
    page.ask_quiz(1)  # the second one answers with a question stored by the first
    page.visible("#quiz-result .question .answer summary").click()
    page.js("document.getElementById('status').hidden = true")  # the toast covers content
    for width, mobile in ((360, True), (1280, False)):
        shot = page.screenshot("in-use", width, mobile)
        assert shot.stat().st_size > 10_000
        assert page.js("return document.documentElement.scrollWidth") <= width, (
            f"the page scrolls sideways at {width} px"
        )
