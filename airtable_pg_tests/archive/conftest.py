"""The archive's stores for tests: a local directory, and a real S3-compatible server (moto's server mode).

The S3 server is started once per session on a free port; each test gets a bucket of its own. botocore reads the
credentials from the environment, as it would in production (moto accepts any).
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from airtable_pg.archive.config import ArchiveConfig

_buckets = itertools.count()
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    for name, value in _CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture(params=["local", "s3"])
def archive_config(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveConfig:
    """An archive on a local directory, then on an S3 bucket; short waits so retries happen within a test."""
    quick = {"workers": 4, "backoff_seconds": 0.01, "lease_seconds": 2.0, "retention_seconds": 3600.0}
    if request.param == "local":
        return ArchiveConfig(store_url=str(tmp_path / "archive"), **quick)
    endpoint = request.getfixturevalue("s3_endpoint")
    client = request.getfixturevalue("s3_client")
    bucket = f"archive-{next(_buckets)}"
    client.create_bucket(Bucket=bucket)
    return ArchiveConfig(store_url=f"s3://{bucket}/copies", s3_endpoint_url=endpoint, **quick)
