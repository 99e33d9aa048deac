"""Job callbacks: a finished job POSTed to the ``callback_url`` its upload gave, Standard
Webhooks style (https://www.standardwebhooks.com/), by the ``standardwebhooks`` package.

- Headers ``webhook-id`` (``job_<job id>``: the same on every retry, so a receiver that has
  seen it drops the repeat), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
  (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed by ``AUDIO_WEBHOOK_SECRET``); the
  body is ``{"type": "conversion_job.done" | "conversion_job.failed", "timestamp", "data": the
  job as GET /record/jobs/{id} shows it}``.
- The delivery is queued in the transaction that makes the job final (``jobs``), so a job
  never ends without its callback queued; it is retried (``AUDIO_WEBHOOK_MAX_ATTEMPTS``,
  backoff doubling) until a 2xx answer. Redirects are not followed.
- Which callback URLs are accepted: ``callback_urls``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from audio_service import links, repository
from audio_service.metrics import AudioMetrics
from audio_service.models import ConversionJob
from audio_service.schemas import JobOut
from audio_service.settings import AudioSettings
from shared.db import Database
from shared.errors import AppError

log = logging.getLogger("audio.webhooks")


def message_id(job_id: uuid.UUID) -> str:
    return f"job_{job_id}"


def payload(job: ConversionJob, sent_at: datetime) -> dict[str, Any]:
    record_url = (
        links.record_url(job.base_url, job.record_id, job.user_id)
        if job.record_id is not None
        else None
    )
    data = JobOut.of(job, links.job_url(job.base_url, job.id), record_url)
    return {
        "type": f"conversion_job.{job.status}",
        "timestamp": sent_at.isoformat().replace("+00:00", "Z"),
        "data": data.model_dump(mode="json"),
    }


class WebhookSender:
    def __init__(
        self,
        database: Database,
        settings: AudioSettings,
        client: httpx.AsyncClient,
        metrics: AudioMetrics,
    ) -> None:
        self._database = database
        self._settings = settings
        self._client = client
        self._metrics = metrics
        secret = settings.webhook_secret
        self._signer = Webhook(secret.get_secret_value()) if secret is not None else None

    async def deliver(self, job_id: uuid.UUID, _stop: threading.Event | None = None) -> bool:
        """One delivery of the job's callback; True when done with (answered 2xx, or nothing
        to send), False to retry later."""
        try:
            async with self._database.unit_of_work() as session:
                job = await repository.get_job(session, job_id)
        except AppError:
            return False
        if job is None or job.callback_url is None:
            return True  # the user (and the job) were deleted meanwhile
        if self._signer is None:
            log.error("a callback is queued but AUDIO_WEBHOOK_SECRET is unset; not sent")
            return True
        sent_at = datetime.now(UTC)
        body = json.dumps(payload(job, sent_at), separators=(",", ":"))
        msg_id = message_id(job.id)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(msg_id, sent_at, body),
        }
        fields: dict[str, Any] = {"job_id": str(job.id), "webhook_id": msg_id}
        try:
            response = await self._client.post(
                job.callback_url,
                content=body,
                headers=headers,
                timeout=self._settings.webhook_timeout_s,
            )
        except httpx.HTTPError as exc:
            log.warning(
                "callback not delivered",
                extra={"fields": {**fields, "reason": f"{type(exc).__name__}: {exc}"}},
            )
            self._metrics.webhook("retried")
            return False
        if response.is_success:
            log.info(
                "callback delivered", extra={"fields": {**fields, "status": response.status_code}}
            )
            self._metrics.webhook("delivered")
            return True
        log.warning(
            "callback refused", extra={"fields": {**fields, "status": response.status_code}}
        )
        self._metrics.webhook("retried")
        return False
