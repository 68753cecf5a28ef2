"""SigV4 on the wire, with requests signed by botocore's own signer: a good signature
passes; a tampered body, header, host or date fails; a key the server does not have
fails; a time outside the skew window fails; presigned queries work until they expire.
Also the plain paths: /health and /metrics, and Firehose's target before delivery
streams are built in."""

from __future__ import annotations

import datetime as dt
import json
from unittest import mock

import httpx
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import KEY_ID, SECRET, Server
from wire import JSON, sign

TARGET = "Kinesis_20131202.ListStreams"


def send(server: Server, headers: dict[str, str], body: bytes, path: str = "/") -> httpx.Response:
    return httpx.post(server.endpoint + path, content=body, headers=headers, timeout=30)


def signed(server: Server, body: bytes = b"{}", **kw) -> dict[str, str]:
    return sign(server.endpoint + "/", body, {"Content-Type": JSON, "X-Amz-Target": TARGET}, **kw)


def error(r: httpx.Response) -> str:
    assert r.status_code >= 400, r.text
    return r.json()["__type"]


def test_good_signature_passes(server: Server):
    r = send(server, signed(server), b"{}")
    assert r.status_code == 200, r.text
    assert r.headers["x-amzn-requestid"]


def test_tampering_fails(server: Server):
    headers = signed(server, b'{"Limit": 5}')
    assert send(server, headers, b'{"Limit": 5}').status_code == 200
    assert error(send(server, headers, b'{"Limit": 6}')) == "InvalidSignatureException"
    other = dict(headers, **{"X-Amz-Target": "Kinesis_20131202.DescribeLimits"})
    # A changed target: refused by the signature before anything else could run.
    other["X-Amz-Target"] = "Kinesis_20131202.DescribeStreamSummary"
    assert error(send(server, other, b'{"Limit": 5}')) == "InvalidSignatureException"
    moved = dict(headers, Host=f"elsewhere.example:{server.port}")
    assert error(send(server, moved, b'{"Limit": 5}')) == "InvalidSignatureException"
    later = dict(headers)
    date = dt.datetime.strptime(later["X-Amz-Date"], "%Y%m%dT%H%M%SZ") + dt.timedelta(seconds=1)
    later["X-Amz-Date"] = date.strftime("%Y%m%dT%H%M%SZ")
    assert error(send(server, later, b'{"Limit": 5}')) == "InvalidSignatureException"
    r = send(server, dict(headers, **{"X-Amz-Content-Sha256": "0" * 64}), b'{"Limit": 5}')
    assert error(r) == "InvalidSignatureException"


def test_keys_and_clock(server: Server):
    assert error(send(server, signed(server, key="AKIDNOTCONFIGURED", secret="x"), b"{}")) \
        == "UnrecognizedClientException"
    assert error(send(server, signed(server, secret="not-the-secret"), b"{}")) == "InvalidSignatureException"
    assert error(send(server, signed(server, service="firehose"), b"{}")) == "InvalidSignatureException"
    for skew in (dt.timedelta(minutes=-16), dt.timedelta(minutes=16)):
        when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + skew
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            r = send(server, signed(server), b"{}")
        assert error(r) == "InvalidSignatureException"
        assert "Signature expired" in r.json()["message"] or "not yet current" in r.json()["message"]
    when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        assert send(server, signed(server), b"{}").status_code == 200  # inside the window
    r = send(server, {"Content-Type": JSON, "X-Amz-Target": TARGET}, b"{}")
    assert error(r) == "MissingAuthenticationTokenException"


def test_presigned_queries(server: Server):
    """botocore presigns for JSON services by moving the body's members into the query
    and signing the SHA-256 of the (now empty) body: the server accepts the signature
    (and then, as AWS, finds no JSON body: a SerializationException, not an auth error);
    once expired, the same URL is refused."""
    def presigned(expires: int) -> str:
        request = AWSRequest(method="POST", url=server.endpoint + "/", data=b"{}",
                             headers={"Content-Type": JSON, "X-Amz-Target": TARGET})
        SigV4QueryAuth(Credentials(KEY_ID, SECRET), "kinesis", "us-east-1", expires=expires).add_auth(request)
        assert not request.data
        return request.url

    headers = {"Content-Type": JSON, "X-Amz-Target": TARGET}
    r = httpx.post(presigned(60), content=b"", headers=headers)
    assert error(r) == "SerializationException", r.text
    r = httpx.post(presigned(60), content=b"{}", headers=headers)
    assert error(r) == "InvalidSignatureException"  # the body is covered
    when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=5)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        stale = presigned(60)
    r = httpx.post(stale, content=b"", headers=headers)
    assert error(r) == "InvalidSignatureException" and "expired" in r.json()["message"]


def test_health_metrics_and_firehose(server: Server, kinesis, stream):
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"counted")
    r = httpx.get(server.endpoint + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    text = httpx.get(server.endpoint + "/metrics").text
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    assert 'tidelog_server_requests_total{service="kinesis",operation="PutRecord",outcome="ok"}' in text
    assert f'tidelog_stream_incoming_records_total{{stream="{stream}"}} 1' in text
    assert "tidelog_server_request_seconds_bucket" in text
    body = b"{}"
    headers = sign(server.endpoint + "/", body, {"Content-Type": JSON,
                   "X-Amz-Target": "Firehose_20150804.ListDeliveryStreams"}, service="firehose")
    r = send(server, headers, body)
    assert r.status_code == 200, r.text
    assert json.loads(r.text)["HasMoreDeliveryStreams"] is False
    headers = sign(server.endpoint + "/", body, {"Content-Type": JSON,
                   "X-Amz-Target": "Firehose_20150804.Explode"}, service="firehose")
    r = send(server, headers, body)
    assert error(r) == "UnknownOperationException"
    assert json.loads(r.text)["message"]
