"""The audio service's own Prometheus metrics: conversions, their queue, bytes in and out.

The conversion slots (``uploads.Converter``) and the service (``service.AudioService``) call
these methods where they write their log lines ("conversion", "conversion refused", ...),
so the figures are the logs' figures. The HTTP and pool metrics are ``shared.metrics``'.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

NO_REASON = "none"
UNKNOWN_CODEC = "unknown"
OUTCOMES = ("ok", "refused", "failed", "cancelled")
JOB_OUTCOMES = ("queued", "done", "failed")
WEBHOOK_OUTCOMES = ("delivered", "retried")
REJECTIONS = ("queue_full", "user_busy", "quota_bytes", "quota_records")
"""Uploads refused before or after their conversion for the service's own limits."""

SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REALTIME_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class AudioMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.conversions = Counter(
            "audio_conversions",
            "Conversions by outcome (ok, refused, failed, cancelled), refusal reason (the "
            "problem's code, or none) and input codec (unknown unless it converted).",
            ["outcome", "reason", "codec"],
            registry=registry,
        )
        self.conversion_seconds = Histogram(
            "audio_conversion_seconds",
            "Time one successful conversion took in its worker thread.",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.realtime_factor = Histogram(
            "audio_conversion_realtime_factor",
            "Seconds of audio converted per second of conversion, per conversion.",
            buckets=REALTIME_BUCKETS,
            registry=registry,
        )
        self.audio_seconds = Counter(
            "audio_converted_audio_seconds", "Seconds of audio converted.", registry=registry
        )
        self.mp3_bytes = Counter(
            "audio_mp3_stored_bytes", "MP3 bytes stored (committed records).", registry=registry
        )
        self.upload_bytes = Counter(
            "audio_upload_received_bytes",
            "Bytes of uploaded files received within the upload limit.",
            registry=registry,
        )
        self.queue_length = Gauge(
            "audio_conversion_queue_length",
            "Uploads waiting for a conversion slot now.",
            registry=registry,
        )
        self.in_progress = Gauge(
            "audio_conversions_in_progress", "Conversions running now.", registry=registry
        )
        self.queue_wait = Histogram(
            "audio_conversion_queue_wait_seconds",
            "Time an upload waited for a conversion slot.",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.rejected = Counter(
            "audio_uploads_rejected",
            "Uploads refused for the service's limits: queue_full (503), user_busy (429), "
            "quota_bytes and quota_records (403).",
            ["reason"],
            registry=registry,
        )
        self.jobs = Counter(
            "audio_jobs",
            "Conversion jobs by event: queued (accepted with 202, by the API), done and "
            "failed (final, by the process that converted them).",
            ["outcome"],
            registry=registry,
        )
        self.webhooks = Counter(
            "audio_webhooks",
            "Job callback deliveries: delivered (answered 2xx), retried (refused or "
            "unreachable; tried again later).",
            ["outcome"],
            registry=registry,
        )
        # Series that alerts and dashboards read start at 0 (see quiz_service.metrics).
        for outcome in OUTCOMES:
            self.conversions.labels(outcome, NO_REASON, UNKNOWN_CODEC)
        for reason in REJECTIONS:
            self.rejected.labels(reason)
        for outcome in JOB_OUTCOMES:
            self.jobs.labels(outcome)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)

    def converted(self, *, codec: str, audio_s: float, convert_s: float) -> None:
        self.conversions.labels("ok", NO_REASON, codec).inc()
        self.conversion_seconds.observe(convert_s)
        if convert_s > 0:
            self.realtime_factor.observe(audio_s / convert_s)
        self.audio_seconds.inc(audio_s)

    def refused(self, reason: str | None) -> None:
        self.conversions.labels("refused", reason or NO_REASON, UNKNOWN_CODEC).inc()

    def failed(self) -> None:
        self.conversions.labels("failed", NO_REASON, UNKNOWN_CODEC).inc()

    def cancelled(self) -> None:
        self.conversions.labels("cancelled", NO_REASON, UNKNOWN_CODEC).inc()

    def received(self, input_bytes: int) -> None:
        self.upload_bytes.inc(input_bytes)

    def stored(self, mp3_bytes: int) -> None:
        self.mp3_bytes.inc(mp3_bytes)

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason).inc()

    def job_queued(self) -> None:
        self.jobs.labels("queued").inc()

    def job_finished(self, outcome: str) -> None:
        self.jobs.labels(outcome).inc()

    def webhook(self, outcome: str) -> None:
        self.webhooks.labels(outcome).inc()
