"""SubscribeToShard and ordinary calls over HTTP/2 from another stack (httpx + h2):
cleartext h2c with prior knowledge (what the Java SDK v2 speaks to Kinesis endpoints
over http://) and h2 over TLS chosen by ALPN. The event stream is decoded here by a
decoder of the test's own that checks both CRCs."""

from __future__ import annotations

import json
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Server, start_server
from wire import JSON, sign


def events(chunks: Iterator[bytes]) -> Iterator[tuple[dict[str, str], bytes]]:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 12:
            total, headers_len, prelude_crc = struct.unpack(">III", buffer[:12])
            assert prelude_crc == zlib.crc32(buffer[:8]), "prelude CRC"
            if len(buffer) < total:
                break
            message, buffer = buffer[:total], buffer[total:]
            assert struct.unpack(">I", message[-4:])[0] == zlib.crc32(message[:-4]), "message CRC"
            headers, h = {}, message[12:12 + headers_len]
            while h:
                n = h[0]
                name = h[1:1 + n].decode()
                assert h[1 + n] == 7  # string
                length = struct.unpack(">H", h[2 + n:4 + n])[0]
                headers[name] = h[4 + n:4 + n + length].decode()
                h = h[4 + n + length:]
            yield headers, message[12 + headers_len:-4]


def subscribe_over(client: httpx.Client, endpoint: str, kinesis, stream: str) -> None:
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="h2")["Consumer"]["ConsumerARN"]
    body = json.dumps({"ConsumerARN": consumer, "ShardId": "shardId-000000000000",
                       "StartingPosition": {"Type": "LATEST"}}).encode()
    headers = sign(endpoint + "/", body, {"Content-Type": JSON,
                                          "X-Amz-Target": "Kinesis_20131202.SubscribeToShard"})

    def produce() -> None:
        time.sleep(0.5)
        for i in range(3):
            kinesis.put_record(StreamName=stream, PartitionKey="p", Data=f"h2 {i}".encode(),
                               ExplicitHashKey="0")

    with client.stream("POST", endpoint + "/", content=body, headers=headers) as response:
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
        threading.Thread(target=produce, daemon=True).start()
        got = []
        first = True
        for headers_, payload in events(response.iter_raw()):
            assert headers_[":message-type"] == "event"
            if first:
                assert headers_[":event-type"] == "initial-response"
                first = False
                continue
            assert headers_[":event-type"] == "SubscribeToShardEvent"
            got.extend(r["Data"] for r in json.loads(payload)["Records"])
            if len(got) >= 3:
                break
    import base64
    assert [base64.b64decode(d) for d in got] == [b"h2 0", b"h2 1", b"h2 2"]


def test_h2c_prior_knowledge(server: Server, kinesis, stream):
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        subscribe_over(client, server.endpoint, kinesis, stream)
        # Ordinary calls share the connection.
        body = b"{}"
        headers = sign(server.endpoint + "/", body,
                       {"Content-Type": JSON, "X-Amz-Target": "Kinesis_20131202.ListStreams"})
        r = client.post(server.endpoint + "/", content=body, headers=headers)
        assert r.http_version == "HTTP/2" and stream in r.json()["StreamNames"]


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[Server, Path]]:
    with tempfile.TemporaryDirectory(prefix="tidelog-tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True)
        data = Path(tmp) / "data"
        s = start_server(str(data), "--tls-cert", str(cert), "--tls-key", str(key))
        try:
            yield s, cert
        finally:
            assert s.stop() == 0


def test_h2_over_tls_by_alpn(tls_server):
    server, cert = tls_server
    assert server.endpoint.startswith("https://")
    import boto3
    kinesis = boto3.client("kinesis", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id="AKIDTIDELOGTEST", aws_secret_access_key="tidelog/test+secret",
                           verify=str(cert))
    kinesis.create_stream(StreamName="over-tls", ShardCount=1)
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=str(cert)),
                      timeout=30) as client:
        subscribe_over(client, server.endpoint, kinesis, "over-tls")
    # HTTP/1.1 over TLS (boto3) works on the same port.
    assert "over-tls" in kinesis.list_streams()["StreamNames"]
