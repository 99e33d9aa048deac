"""Create a user, upload a WAV, download the MP3: the path every client takes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from audio_service.tests.mp3_reference import audio_frames_of
from testkit.audio import create_user, upload
from testkit.wav import (
    decode_mp3,
    dominant_frequency,
    mp3_frames,
    write_tone_wav,
)


@pytest.mark.parametrize(
    ("rate", "channels", "duration_s"), [(44100, 2, 1.0), (48000, 1, 0.7), (16000, 1, 1.5)]
)
async def test_upload_then_download_round_trip(
    client: httpx.AsyncClient, tmp_path: Path, rate: int, channels: int, duration_s: float
) -> None:
    user = await create_user(client, "Round Trip")
    wav = write_tone_wav(
        tmp_path / "in.wav", sample_rate=rate, channels=channels, duration_s=duration_s
    )
    created = await upload(client, user, wav, filename="in.wav")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["duration_s"] == pytest.approx(duration_s)

    download = await client.get(body["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "audio/mpeg"
    frames = mp3_frames(audio_frames_of(download.content))  # after the ID3 tag and Info frame
    assert {frame.sample_rate for frame in frames} == {rate}
    assert {frame.bitrate_kbps for frame in frames} == {body["output"]["bitrate_kbps"]}
    samples, decoded_rate = decode_mp3(download.content)
    assert decoded_rate == rate
    assert samples.shape[1] == channels
    # The Info frame lets the decoder trim LAME's delay and padding: exactly the input.
    assert len(samples) == round(duration_s * rate)
    assert dominant_frequency(samples[:, 0], rate) == pytest.approx(440.0, abs=5)
