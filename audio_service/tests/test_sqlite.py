"""The embedded SQLite default: real migrations, one user, one upload, one download."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from audio_service.main import create_app
from audio_service.tests.conftest import ALEMBIC_INI, make_settings
from shared.migrations import downgrade_database, upgrade_database
from testkit.apps import running_app
from testkit.audio import create_user, upload
from testkit.wav import decode_mp3, write_tone_wav


@pytest.mark.sqlite
async def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audio.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    staging = tmp_path / "staging"
    staging.mkdir()
    app = create_app(make_settings(url, staging))
    async with running_app(app) as client:
        user = await create_user(client, "Lite")
        assert (await client.post("/user", json={"name": "Lite"})).status_code == 409
        wav = write_tone_wav(tmp_path / "tone.wav", sample_rate=22050, channels=1, duration_s=2.0)
        created = await upload(client, user, wav, filename="Süß.wav")
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["created_at"].endswith("Z")

        download = await client.get(body["url"])
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == body["output"]["sha256"]
        samples, rate = decode_mp3(download.content)
        assert (rate, samples.shape[1]) == (22050, 1)

        ranged = await client.get(body["url"], headers={"Range": "bytes=20000-20099"})
        assert ranged.status_code == 206
        assert ranged.content == download.content[20000:20100]

        headers = {"Authorization": f"Bearer {user.token}"}
        listed = await client.get(f"/user/{user.user_id}/records", headers=headers)
        assert listed.json()["total"] == 1
        query = {"id": body["record_id"], "user": str(user.user_id)}
        assert (await client.delete("/record", params=query, headers=headers)).status_code == 204
        assert (await client.get(body["url"])).status_code == 404
    await asyncio.to_thread(downgrade_database, ALEMBIC_INI, url)


@pytest.mark.sqlite
async def test_quotas_on_sqlite(tmp_path: Path) -> None:
    """The storing transaction's user lock is an UPDATE, which SQLite can take too; two
    uploads at once for the last free record: one is stored."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'audio.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    staging = tmp_path / "staging"
    staging.mkdir()
    app = create_app(make_settings(url, staging, user_max_records=1))
    async with running_app(app) as client:
        user = await create_user(client, "Lite")
        wav = write_tone_wav(tmp_path / "tone.wav", sample_rate=22050, channels=1, duration_s=0.5)
        responses = await asyncio.gather(upload(client, user, wav), upload(client, user, wav))
        assert sorted(r.status_code for r in responses) == [201, 403]
        headers = {"Authorization": f"Bearer {user.token}"}
        listed = await client.get(f"/user/{user.user_id}/records", headers=headers)
        assert listed.json()["total"] == 1
