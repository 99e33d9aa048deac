"""Per-user quotas: stored MP3 bytes (``AUDIO_USER_QUOTA_BYTES``) and records
(``AUDIO_USER_MAX_RECORDS``).

An upload is checked twice. Before its conversion, with what is stored already: a user with
no byte or record left is refused at once, before any CPU is spent. When its record is
stored, in the storing transaction, with its real MP3 size: that transaction first locks the
user's row (``repository.lock_user``), so two concurrent uploads of one user are checked one
after the other, each seeing what the other committed, and cannot both take the last free
byte. Usage is summed from the records themselves (no counter to drift when a record is
deleted by any path).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import QuotaExceeded


@dataclass(frozen=True, slots=True)
class Usage:
    bytes: int
    records: int


@dataclass(frozen=True, slots=True)
class Quota:
    max_bytes: int | None
    max_records: int | None

    @property
    def unlimited(self) -> bool:
        return self.max_bytes is None and self.max_records is None

    def check(self, usage: Usage, adding_bytes: int) -> None:
        """Raises ``QuotaExceeded`` unless one more record of ``adding_bytes`` fits."""
        over_records = self.max_records is not None and usage.records + 1 > self.max_records
        over_bytes = self.max_bytes is not None and usage.bytes + adding_bytes > self.max_bytes
        if not (over_records or over_bytes):
            return
        if over_records:
            detail = (
                f"You have {usage.records} of the {self.max_records} records allowed; "
                "delete one to upload another."
            )
        else:
            detail = (
                f"You have stored {usage.bytes} of the {self.max_bytes} MP3 bytes allowed; "
                f"this upload needs {adding_bytes} more."
            )
        raise QuotaExceeded(
            detail,
            quota="records" if over_records else "bytes",
            used_bytes=usage.bytes,
            max_bytes=self.max_bytes,
            used_records=usage.records,
            max_records=self.max_records,
            needed_bytes=adding_bytes,
        )
