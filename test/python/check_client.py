#!/usr/bin/env python3
"""Calls sark-authz with Python's grpcio, as another gRPC stack would.

usage: check_client.py STUBS_DIR ADDR < cases.json > results.json

STUBS_DIR holds stubs generated from proto/ with grpc_tools.protoc. Each case
is {"name", "method", "path", "headers", "body", "source"}; the request is
shaped as Envoy's ext_authz filter fills it. Each result is
{"name", "code", "ok_headers", "denied_status", "denied_body",
"denied_headers"} or {"name", "grpc_error", "details"}. The last line is a
health check of the server ({"health": "SERVING"}).
"""
import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc  # noqa: E402


def envoy_request(case, stream_id):
    method = case.get("method", "GET")
    path = case.get("path", "/")
    body = case.get("body", "")
    req = external_auth_pb2.CheckRequest()
    attrs = req.attributes
    attrs.source.address.socket_address.address = case.get("source", "127.0.0.1")
    attrs.source.address.socket_address.port_value = 53122
    attrs.destination.address.socket_address.address = "127.0.0.1"
    attrs.destination.address.socket_address.port_value = 8000
    attrs.request.time.seconds = 1764345600
    attrs.request.time.nanos = 5000
    http = attrs.request.http
    http.id = str(stream_id)
    http.method = method
    http.path = path
    http.host = "app.example.com"
    http.scheme = "http"
    http.protocol = "HTTP/1.1"
    headers = {
        ":authority": "app.example.com",
        ":method": method,
        ":path": path,
        ":scheme": "http",
        "x-request-id": "0d2c5f4e-8b8b-4c1e-9a63-6f1d2b8f7a10",
        "user-agent": "python-requests/2.31",
    }
    if body:
        http.body = body
        http.size = len(body.encode())
        headers["content-length"] = str(len(body.encode()))
    headers.update(case.get("headers", {}))
    for k, v in headers.items():
        http.headers[k] = v
    return req


def header_list(options):
    return [[o.header.key, o.header.value] for o in options]


def main():
    addr = sys.argv[2]
    cases = json.load(sys.stdin)
    with grpc.insecure_channel(addr) as channel:
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        for i, case in enumerate(cases):
            try:
                resp = stub.Check(envoy_request(case, 1000 + i), timeout=10)
            except grpc.RpcError as err:
                print(json.dumps({"name": case["name"], "grpc_error": err.code().name, "details": err.details()}))
                continue
            out = {"name": case["name"], "code": resp.status.code, "http_response": resp.WhichOneof("http_response")}
            if resp.HasField("ok_response"):
                out["ok_headers"] = header_list(resp.ok_response.headers)
            if resp.HasField("denied_response"):
                out["denied_status"] = resp.denied_response.status.code
                out["denied_body"] = resp.denied_response.body
                out["denied_headers"] = header_list(resp.denied_response.headers)
            out["decision_id"] = resp.dynamic_metadata.fields["decision_id"].string_value
            print(json.dumps(out))
        health = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda _: b"",
            response_deserializer=lambda b: b,
        )(None, timeout=10)
        # HealthCheckResponse{status=1 (SERVING)} is the two bytes 08 01.
        print(json.dumps({"health": "SERVING" if health == b"\x08\x01" else health.hex()}))


if __name__ == "__main__":
    main()
