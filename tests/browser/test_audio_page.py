"""The audio half of the page, used as a person would: an account, uploads (picker and drag
and drop), the microphone, the records list with its player, download and delete."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from selenium.webdriver.common.action_chains import ActionChains

from devstack.stack import LocalStack
from testkit.wav import tone_wav
from tests.browser.pages import Page, unique

pytestmark = pytest.mark.browser

# Slow enough that Chromium reports the upload in many steps (it fires progress events about
# every 50 ms), fast enough to keep the test short: a 30 s, 16 kHz tone (0.9 MiB) takes ~2 s.
UPLOAD_THROUGHPUT_BYTES_S = 512 * 1024
PAGE_SIZE = 20  # records the page lists at a time


def write_wav(directory: Path, name: str, seconds: float, frequency: float = 440.0) -> Path:
    path = directory / name
    path.write_bytes(tone_wav(frequency, seconds, sample_rate=16_000))
    return path


def records_of(api: httpx.Client, user_id: int, token: str) -> list[dict[str, Any]]:
    response = api.get(f"/user/{user_id}/records", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def sign_up(page: Page) -> tuple[int, str]:
    user_id, token = page.create_account(unique("listener"))
    page.dismiss_token()
    return user_id, token


def throttle_uploads(page: Page, bytes_per_second: float) -> None:
    """Slows uploads down (-1: no limit). The Network domain stays enabled: chromedriver's
    performance log, which the request check reads, needs it."""
    page.driver.execute_cdp_cmd("Network.enable", {})
    page.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def audio_state(page: Page, item: Any) -> dict[str, Any]:
    state: dict[str, Any] = page.js(
        "const a = arguments[0].querySelector('audio');"
        "return {time: a.currentTime, paused: a.paused, duration: a.duration,"
        "        seekable: a.seekable.length ? a.seekable.end(0) : 0};",
        item,
    )
    return state


def test_upload_play_seek_download_delete(
    page: Page,
    api: httpx.Client,
    web_stack: LocalStack,
    tmp_path: Path,
    artifacts: Path,
    expect_missing_peaks: None,
    peaks_available: bool,
) -> None:
    user_id, token = sign_up(page)
    name = f"{unique('tone')}.wav"
    wav = write_wav(tmp_path, name, 30.0)

    # Upload through the file input, the network slowed down so the progress bar has steps.
    page.record_progress()
    throttle_uploads(page, UPLOAD_THROUGHPUT_BYTES_S)
    try:
        page.choose_files(wav)
        state, status = page.upload_outcome(name)
    finally:
        throttle_uploads(page, -1)
    assert state == "done", status
    assert re.fullmatch(r"Converted to MP3: 30\.0 s, \d+ KB \(from WAV PCM 16-bit\)\.", status)

    steps = [v["value"] for v in page.progress_values() if v["label"] == f"Upload of {name}"]
    size = wav.stat().st_size
    between = sorted({v for v in steps if 0 < v < size})
    assert len(between) >= 5, f"the bar did not move in steps: {steps}"
    assert steps == sorted(steps), "the bar went backwards"
    assert steps[-1] >= size, "the bar did not reach the end"

    # The record is listed with its metadata.
    item = page.record_item(name)
    meta = page.find(".meta", item).text
    assert "30.0 s" in meta
    assert "WAV · PCM 16-bit · 16 kHz · mono" in meta
    assert "128 kbps" in meta
    [record] = records_of(api, user_id, token)
    assert page.find(".download", item).get_attribute("download") == record["filename"]

    canvas = page.find(".waveform", item)
    if not peaks_available:
        # No peaks yet: nothing is drawn rather than something made up.
        page.wait(
            lambda d: page.js(
                "return performance.getEntriesByType('resource')"
                ".some((e) => e.name.includes('/record/peaks'))"
            )
        )
        assert not canvas.is_displayed()
        assert canvas.get_attribute("data-state") is None

    # It plays.
    page.find(".play-button", item).click()
    page.wait(lambda d: audio_state(page, item)["time"] > 0.5, message="playback did not advance")
    assert not audio_state(page, item)["paused"]
    assert page.find(".play-button", item).get_attribute("aria-label") == f"Pause {name}"
    # The whole file is seekable (the gateway answers byte ranges).
    assert audio_state(page, item)["seekable"] == pytest.approx(30.0, abs=0.2)

    # A seek lands: a click at three quarters of the position slider.
    seek = page.find(".seek", item)
    offset = round(seek.size["width"] * 0.25)  # from the slider's centre
    ActionChains(page.driver).move_to_element_with_offset(seek, offset, 0).click().perform()
    page.wait(
        lambda d: abs(audio_state(page, item)["time"] - 22.5) < 1.5,
        message=f"the seek did not land near 22.5 s: {audio_state(page, item)}",
    )
    page.wait(lambda d: audio_state(page, item)["time"] > 23.0, message="no playback after seek")
    page.find(".play-button", item).click()
    page.wait(lambda d: audio_state(page, item)["paused"])
    ranged = [
        e
        for e in web_stack.gateway.access_log_entries()  # type: ignore[union-attr]
        if e["request"].startswith("GET /record?") and e["status"] == 206
    ]
    assert ranged, "the player fetched no byte range"

    # Download: the file lands in the browser's download folder, byte for byte the MP3.
    downloads = artifacts / "downloads"
    target = downloads / record["filename"]
    page.find(".download", item).click()
    page.wait(
        lambda d: target.is_file() and not list(downloads.glob("*.crdownload")),
        message=f"{target.name} was not downloaded",
    )
    assert hashlib.sha256(target.read_bytes()).hexdigest() == record["output"]["sha256"]

    # Delete asks first; keeping it keeps it.
    page.find(".delete", item).click()
    dialog = page.visible("#confirm-delete")
    assert name in dialog.text
    page.find("#confirm-delete button[value=cancel]").click()
    page.wait(lambda d: not dialog.is_displayed())
    assert page.record_titles() == [name]
    assert page.driver.switch_to.active_element == page.find(".delete", item)

    page.find(".delete", item).click()
    page.visible("#confirm-delete")
    page.find("#confirm-delete button[value=delete]").click()
    page.wait(lambda d: page.record_titles() == [], message="the record stayed in the list")
    assert page.visible("#records-empty").text.startswith("No records yet")
    assert page.text_of("#records-count") == "0 records"
    assert records_of(api, user_id, token) == []
    gone = api.get(
        "/record",
        params={"id": record["record_id"], "user": user_id},
        headers={"Cache-Control": "no-cache"},
    )
    assert gone.status_code == 404


def test_waveform_is_drawn_from_the_peaks(
    page: Page, tmp_path: Path, peaks_available: bool
) -> None:
    if not peaks_available:
        pytest.skip(
            "GET /record/peaks (issue 10, item 5) does not exist yet: the page draws no "
            "waveform until it does; this test turns on by itself when the endpoint appears"
        )
    sign_up(page)
    name = f"{unique('wave')}.wav"
    page.choose_files(write_wav(tmp_path, name, 4.0))
    assert page.upload_outcome(name)[0] == "done"
    item = page.record_item(name)
    canvas = page.find(".waveform", item)
    page.wait(lambda d: canvas.get_attribute("data-state") == "drawn", message="no waveform")
    assert canvas.is_displayed()
    inked: int = page.js(
        "const c = arguments[0]; const px = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++; return n;",
        canvas,
    )
    # A steady tone at half scale fills about half the height over the whole width.
    width, height = page.js("return [arguments[0].width, arguments[0].height]", canvas)
    assert 0.3 * width * height < inked < 0.7 * width * height

    # The drawing follows the audio in time: silence, then a loud tone.
    name = f"{unique('half')}.wav"
    rate = 16_000
    t = np.arange(4 * rate) / rate
    samples = np.where(t < 2.0, 0.0, 0.9 * np.sin(2 * np.pi * 440 * t))
    sf.write(tmp_path / name, samples, rate, subtype="PCM_16")
    page.choose_files(tmp_path / name)
    assert page.upload_outcome(name)[0] == "done"
    item = page.record_item(name)
    canvas = page.find(".waveform", item)
    page.wait(lambda d: canvas.get_attribute("data-state") == "drawn", message="no waveform")
    heights: list[int] = page.js(
        "const c = arguments[0]; const px = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; const out = [];"
        "for (let x = 0; x < c.width; x++) { let n = 0;"
        "  for (let y = 0; y < c.height; y++) if (px[(y * c.width + x) * 4 + 3] > 0) n++;"
        "  out.push(n); } return out;",
        canvas,
    )
    height = page.js("return arguments[0].height", canvas)
    quarter = len(heights) // 4
    assert max(heights[:quarter]) <= 2, "silence is drawn as a line"
    assert min(heights[-quarter:]) >= 0.8 * height, "a 0.9 tone fills the height"
    page.screenshot("waveforms", 1280, False)


def test_microphone_recording_is_uploaded_and_converted(
    page: Page, api: httpx.Client, expect_missing_peaks: None
) -> None:
    user_id, token = sign_up(page)
    page.js(
        "window.__levels = [];"
        "new MutationObserver(() => window.__levels.push(document.getElementById"
        "('record-level').value)).observe(document.getElementById('record-level'),"
        "{attributes: true, attributeFilter: ['value']});"
    )
    page.find("#record-start").click()
    started = time.monotonic()

    def elapsed() -> float:
        minutes, seconds = page.text_of("#record-time").split(":")
        return int(minutes) * 60 + float(seconds)

    page.wait(lambda d: elapsed() >= 2.0, message="the elapsed time did not count up")
    page.find("#record-stop").click()
    wall = time.monotonic() - started
    status = page.wait(
        lambda d: re.search(r"Recorded ([\d.]+) s at ([\d.]+) kHz", page.text_of("#record-status"))
    )
    assert status is not None
    recorded_s, rate_khz = float(status[1]), float(status[2])
    # The fake microphone beeps: the meter showed it.
    assert max(page.js("return window.__levels"), default=0) > 0.3

    # The WAV built in the browser went through the same upload and was converted.
    page.wait(lambda d: any(t.startswith("Recording ") for t in page.record_titles()), 60)
    [record] = records_of(api, user_id, token)
    assert record["original_filename"].startswith("Recording ")
    assert record["input"]["codec"] == "PCM_16"
    assert record["input"]["channels"] == 1
    assert record["input"]["sample_rate"] == round(rate_khz * 1000)
    frames = record["input"]["frames"]
    assert frames / record["input"]["sample_rate"] == pytest.approx(recorded_s, abs=0.06)
    assert record["duration_s"] == pytest.approx(recorded_s, abs=0.06)
    # About as long as the button was held: from the click on Record to the click on Stop
    # (the microphone opens within that time, the last block flushes after it).
    assert 2.0 <= record["duration_s"] <= wall + 0.2


def test_dropped_files_are_uploaded_together(
    page: Page, api: httpx.Client, expect_missing_peaks: None
) -> None:
    user_id, token = sign_up(page)
    first, second = f"{unique('drop-a')}.wav", f"{unique('drop-b')}.wav"
    page.drop_files(
        [
            (first, "audio/wav", tone_wav(330, 1.0, sample_rate=16_000)),
            (second, "audio/wav", tone_wav(660, 2.0, sample_rate=16_000)),
        ]
    )
    assert page.upload_outcome(first)[0] == "done"
    assert page.upload_outcome(second)[0] == "done"
    page.wait(lambda d: sorted(page.record_titles()) == sorted([first, second]))
    listed = {r["original_filename"]: r["duration_s"] for r in records_of(api, user_id, token)}
    assert listed == {first: 1.0, second: 2.0}


def test_a_text_file_is_refused_in_words(page: Page, api: httpx.Client, tmp_path: Path) -> None:
    user_id, token = sign_up(page)
    notes = tmp_path / "notes.txt"
    notes.write_text("These are not the sounds you are looking for.\n")
    page.expect_http_error(415, "/record")
    page.choose_files(notes)
    state, status = page.upload_outcome("notes.txt")
    assert state == "error"

    # The same file sent by hand: the page shows that problem's title and detail, in words.
    problem = api.post(
        "/record",
        data={"user_id": str(user_id), "token": token},
        files={"file": ("notes.txt", notes.read_bytes(), "text/plain")},
    ).json()
    assert problem["status"] == 415
    assert status == f"Not converted. {problem['title']}: {problem['detail']}"
    assert "{" not in status
    assert '"' not in status
    assert records_of(api, user_id, token) == []
    assert page.record_titles() == []


def test_signed_in_across_reloads_until_signing_out(
    page: Page, api: httpx.Client, tmp_path: Path, expect_missing_peaks: None
) -> None:
    name = unique("keeper")
    user_id, token = page.create_account(name)
    # The token is shown once, with a copy button; "I have saved it" hides it for good.
    assert page.find("#token-value").get_attribute("value") == token
    page.find("#copy-token").click()
    page.wait(lambda d: page.text_of("#copy-status") == "Copied to the clipboard.")
    # Reading the clipboard back needs a permission a person would grant when asked.
    page.driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": page.origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    assert page.js("return navigator.clipboard.readText()") == token
    page.dismiss_token()
    song = f"{unique('kept')}.wav"
    page.choose_files(write_wav(tmp_path, song, 1.0))
    assert page.upload_outcome(song)[0] == "done"

    page.open()
    assert page.visible("#account-bar").text.startswith(f"Signed in as {name} · user #{user_id}")
    assert not page.find("#token-once").is_displayed(), "the token was shown a second time"
    page.record_item(song)

    page.find("#sign-out").click()
    page.visible("#signed-out")
    assert not page.find("#records").is_displayed()
    assert page.js("return localStorage.getItem('quiz-audio.account')") is None
    page.open()
    page.visible("#signed-out")

    # Signing in again with id and token; a wrong token is refused in words.
    page.find("#signed-out summary").click()
    page.visible("#sign-in-id").send_keys(str(user_id))
    page.find("#sign-in-token").send_keys(str(uuid.uuid4()))
    page.expect_http_error(401, f"/user/{user_id}/records")
    page.find("#sign-in-form button[type=submit]").click()
    assert page.visible("#sign-in-error").text == "That user id and token do not match."
    page.find("#sign-in-token").clear()
    page.find("#sign-in-token").send_keys(token)
    page.find("#sign-in-form button[type=submit]").click()
    page.visible("#account-bar")
    page.record_item(song)


def test_a_long_list_shows_more_on_request(
    page: Page, api: httpx.Client, expect_missing_peaks: None
) -> None:
    user_id, token = sign_up(page)
    auth = {"user_id": str(user_id), "token": token}
    names = [f"clip-{i:02d}.wav" for i in range(PAGE_SIZE + 2)]
    for number, name in enumerate(names):
        wav = tone_wav(200 + 10 * number, 0.2, sample_rate=16_000)
        response = api.post("/record", data=auth, files={"file": (name, wav, "audio/wav")})
        assert response.status_code == 201, response.text
    page.open()
    newest_first = names[::-1]
    page.wait(lambda d: page.record_titles() == newest_first[:PAGE_SIZE])
    assert page.text_of("#records-count") == f"{len(names)} records"
    page.find("#records-more").click()
    page.wait(lambda d: page.record_titles() == newest_first)
    assert not page.find("#records-more").is_displayed()
