"""The node as Python's gRPC stack (C-core, like C#, Ruby, PHP and C++ clients) sees it.

Lists the services through reflection v1alpha (all grpcio-reflection speaks), then makes each
call the spec names with raw request bytes, under C-core's default metadata limits (8 kB soft,
16 kB hard), and reports the status each one gets. Usage: grpc_probe.py SPEC.json; prints JSON.
"""

import json
import sys

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def raw(b):
    return b


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    channel = grpc.insecure_channel(spec["addr"])
    grpc.channel_ready_future(channel).result(timeout=30)

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(stub.ServerReflectionInfo(iter([request]), timeout=30))
    services = [s.name for s in response.list_services_response.service]

    calls = []
    for call in spec["calls"]:
        bodies = []
        for path in call["files"]:
            with open(path, "rb") as f:
                bodies.append(f.read())
        metadata = [("authorization", "Bearer " + spec["token"])]
        result = {"name": call["name"]}
        try:
            if call["stream"]:
                fn = channel.stream_unary(call["method"], request_serializer=raw, response_deserializer=raw)
                fn(iter(bodies), metadata=metadata, timeout=120)
            else:
                fn = channel.unary_unary(call["method"], request_serializer=raw, response_deserializer=raw)
                fn(bodies[0], metadata=metadata, timeout=120)
            result["code"] = "OK"
        except grpc.RpcError as e:
            trailing = e.trailing_metadata() or ()
            result["code"] = e.code().name
            result["details"] = e.details() or ""
            result["trailer_bytes"] = sum(len(k) + len(v) for k, v in trailing)
            result["bad_request"] = any(k == "grpc-status-details-bin" for k, _ in trailing)
        calls.append(result)
    print(json.dumps({"services": services, "calls": calls}))


if __name__ == "__main__":
    main()
