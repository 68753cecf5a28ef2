"""The AWS CLI (awscli from PyPI) against the server: the commands people type."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import KEY_ID, SECRET, Server


def aws(server: Server, *args: str, service: str = "kinesis") -> dict:
    exe = shutil.which("aws", path=str(Path(os.sys.executable).parent)) or "aws"
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run([exe, "--endpoint-url", server.endpoint, "--output", "json", service, *args],
                         capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_cli_round_trip(server: Server):
    aws(server, "create-stream", "--stream-name", "from-cli", "--shard-count", "1")
    aws(server, "wait", "stream-exists", "--stream-name", "from-cli")
    put = aws(server, "put-record", "--stream-name", "from-cli", "--partition-key", "k", "--data", "aGVsbG8gY2xp")
    assert put["ShardId"] == "shardId-000000000000"
    it = aws(server, "get-shard-iterator", "--stream-name", "from-cli", "--shard-id", put["ShardId"],
             "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    records = aws(server, "get-records", "--shard-iterator", it)["Records"]
    assert [r["SequenceNumber"] for r in records] == [put["SequenceNumber"]]
    assert records[0]["PartitionKey"] == "k"
    assert "from-cli" in aws(server, "list-streams")["StreamNames"]
    shards = aws(server, "list-shards", "--stream-name", "from-cli")["Shards"]
    assert len(shards) == 1
    aws(server, "add-tags-to-stream", "--stream-name", "from-cli", "--tags", "owner=cli")
    assert aws(server, "list-tags-for-stream", "--stream-name", "from-cli")["Tags"] == [{"Key": "owner", "Value": "cli"}]
    with pytest.raises(RuntimeError, match="ResourceNotFoundException"):
        aws(server, "describe-stream", "--stream-name", "nope")
    aws(server, "delete-stream", "--stream-name", "from-cli")


def test_cli_consumers_encryption_and_firehose(server: Server):
    aws(server, "create-stream", "--stream-name", "cli-fan", "--stream-mode-details", "StreamMode=ON_DEMAND")
    arn = aws(server, "describe-stream-summary", "--stream-name", "cli-fan")["StreamDescriptionSummary"]["StreamARN"]
    consumer = aws(server, "register-stream-consumer", "--stream-arn", arn, "--consumer-name", "cli-app")["Consumer"]
    listed = aws(server, "list-stream-consumers", "--stream-arn", arn)["Consumers"]
    assert [c["ConsumerARN"] for c in listed] == [consumer["ConsumerARN"]]
    aws(server, "start-stream-encryption", "--stream-name", "cli-fan", "--encryption-type", "KMS",
        "--key-id", "alias/aws/kinesis")
    described = aws(server, "describe-stream-summary", "--stream-name", "cli-fan")["StreamDescriptionSummary"]
    assert described["EncryptionType"] == "KMS"
    assert described["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    assert "ShardLimit" in aws(server, "describe-limits")
    aws(server, "delete-stream", "--stream-name", "cli-fan", "--enforce-consumer-deletion")
    assert "DeliveryStreamNames" in aws(server, "list-delivery-streams", service="firehose")
