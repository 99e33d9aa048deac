"""Starts SeaweedFS with one S3 identity taken from the environment (compose "s3" profile).

``SEAWEEDFS_ACCESS_KEY_ID`` / ``SEAWEEDFS_SECRET_ACCESS_KEY`` become the only identity the S3
gateway accepts (the audio service signs with the same pair). ``healthcheck``: exits 0 once
the S3 API answers (an unsigned request is refused with 403, which still is an answer).
"""

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

S3_PORT = 8333
CONFIG = Path("/data/s3.json")


def healthcheck() -> int:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{S3_PORT}/", timeout=2)
    except urllib.error.HTTPError:
        return 0
    except OSError:
        return 1
    return 0


def main() -> None:
    identity = {
        "identities": [
            {
                "name": "audio",
                "credentials": [
                    {
                        "accessKey": os.environ["SEAWEEDFS_ACCESS_KEY_ID"],
                        "secretKey": os.environ["SEAWEEDFS_SECRET_ACCESS_KEY"],
                    }
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    CONFIG.write_text(json.dumps(identity), encoding="utf-8")
    CONFIG.chmod(0o600)
    weed = shutil.which("weed") or "weed"
    os.execv(  # noqa: S606 - the fixed binary, no shell
        weed,
        [
            weed,
            "server",
            "-dir=/data",
            "-ip=seaweedfs",
            "-ip.bind=0.0.0.0",
            "-master.telemetry=false",
            "-volume.max=0",
            "-s3",
            f"-s3.port={S3_PORT}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={CONFIG}",
        ],
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["healthcheck"]:
        sys.exit(healthcheck())
    main()
