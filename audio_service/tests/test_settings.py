"""The audio service's settings as compose passes them: an unset variable arrives as ""."""

from __future__ import annotations

from audio_service.settings import AudioSettings


def test_compose_empty_values_mean_unset_for_the_s3_keys_and_the_admin() -> None:
    # One validator per class used to share a name with the base class's, replacing it.
    settings = AudioSettings(
        s3_access_key_id="",
        s3_secret_access_key="",
        admin_password_hash="",
        admin_secret_key="",
    )
    assert settings.s3_access_key_id is None
    assert settings.s3_secret_access_key is None
    assert not settings.admin_enabled
