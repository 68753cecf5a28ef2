"""Raw signed requests to the server (JSON 1.1 or CBOR 1.1), signed by botocore's own
SigV4 signer, sent by httpx: for the tests that go below what boto3 exposes."""

from __future__ import annotations

import base64
import json
from typing import Any

import cbor2
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import KEY_ID, SECRET

JSON = "application/x-amz-json-1.1"
CBOR = "application/x-amz-cbor-1.1"


class Ms(int):
    """A CBOR timestamp (tag 1 over epoch milliseconds)."""


def cbor_loads(data: bytes) -> Any:
    return cbor2.loads(data, semantic_decoders={1: lambda value, _immutable: Ms(value)})


def sign(url: str, body: bytes, headers: dict[str, str], *, service: str = "kinesis",
         key: str = KEY_ID, secret: str = SECRET, region: str = "us-east-1") -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return dict(request.headers.items())


def call(endpoint: str, operation: str, body: bytes, content_type: str = JSON, *,
         target_prefix: str = "Kinesis_20131202", signed: bool = True,
         client: httpx.Client | None = None) -> httpx.Response:
    headers = {"Content-Type": content_type, "X-Amz-Target": f"{target_prefix}.{operation}"}
    if signed:
        headers = sign(endpoint + "/", body, headers)
    c = client or httpx.Client(timeout=30)
    return c.post(endpoint + "/", content=body, headers=headers)


def call_json(endpoint: str, operation: str, payload: dict[str, Any]) -> tuple[int, Any]:
    r = call(endpoint, operation, json.dumps(payload).encode())
    assert r.headers["content-type"] == JSON
    return r.status_code, r.json()


def call_cbor(endpoint: str, operation: str, payload: dict[str, Any]) -> tuple[int, Any]:
    r = call(endpoint, operation, cbor2.dumps(payload), CBOR)
    assert r.headers["content-type"] == CBOR, r.headers
    return r.status_code, cbor_loads(r.content)


def cbor_to_json_form(value: Any) -> Any:
    """A CBOR answer in the form JSON gives it: blobs as base64, timestamps as seconds."""
    if isinstance(value, Ms):
        ms = int(value)
        return ms // 1000 if ms % 1000 == 0 else ms / 1000
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: cbor_to_json_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cbor_to_json_form(v) for v in value]
    return value
