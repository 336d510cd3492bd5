#!/usr/bin/env python3
"""A compat-API client that behaves like the deployed PHP cron worker.

It polls ``IsNeedSync`` until some panel changed (bounded by ``--wait-seconds``), then
calls ``Sync`` with an empty account and prints every ``MachineReply`` it receives. With
``--rounds N`` it repeats ``IsNeedSync`` + full ``Sync`` N-1 more times without waiting
(a second round right after the first should find nothing). Each ``--account`` then gets a
single-account ``Sync``.

Output: one JSON object per line on stdout, in call order::

    {"call": "IsNeedSync", "round": 1, "changedMachineCount": 1}
    {"call": "Sync", "round": 1, "request": "", "reply": {"account": ..., "alarmMessage": {...}}}
    {"call": "SyncDone", "round": 1, "request": "", "replies": 1}
    {"call": "WaitTimeout", "round": 1, "seconds": 20.0}    (no change seen in time)

Exit status: 0 when every call succeeded (a wait timeout included: that is "nothing to
do", as for the cron worker); 2 on any gRPC error or connection failure (printed to
stderr) and on bad arguments; 64 when grpc or the stubs cannot be imported.

With ``--ca FILE`` the channel is TLS (the server certificate checked against FILE, for the
name ``--server-name``, default ``localhost``); ``--token`` sends ``authorization: Bearer``
metadata on every call (the deployed worker sends none).

Stubs come from ``.ci/python-setup.sh`` (``target/python-stubs`` by default; override
with ``--stubs`` or ``ALARMHUB_PY_STUBS``).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_STUBS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "target", "python-stubs"))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--target", required=True, help="gRPC address, host:port")
    p.add_argument("--wait-seconds", type=float, default=20.0,
                   help="how long to poll IsNeedSync for a change (default 20)")
    p.add_argument("--poll-interval", type=float, default=0.1,
                   help="seconds between IsNeedSync polls (the cron worker uses 1)")
    p.add_argument("--rounds", type=int, default=1,
                   help="IsNeedSync + full Sync rounds; rounds after the first do not wait")
    p.add_argument("--account", action="append", default=[],
                   help="also Sync this one account (repeatable)")
    p.add_argument("--call-timeout", type=float, default=5.0, help="deadline per call, seconds")
    p.add_argument("--stubs", default=os.environ.get("ALARMHUB_PY_STUBS", DEFAULT_STUBS),
                   help="directory with alarm_server_pb2*.py")
    p.add_argument("--ca", help="PEM CA certificate: connect with TLS")
    p.add_argument("--server-name", default="localhost",
                   help="name the server certificate must have (with --ca)")
    p.add_argument("--token", help="send authorization: Bearer TOKEN")
    a = p.parse_args()
    if a.rounds < 1 or a.wait_seconds < 0 or a.poll_interval <= 0 or a.call_timeout <= 0:
        p.error("--rounds must be >= 1, times positive")
    return a


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def reply_to_dict(r):
    m = r.alarmMessage
    return {
        "account": r.account,
        "online": r.online,
        "type": r.type,
        "status": r.status,
        "password": r.password,
        "hasAlarmMessage": r.HasField("alarmMessage"),
        "alarmMessage": {
            "valid": m.valid,
            "zone": m.zone,
            "event": m.event,
            "timestamp": m.timestamp,
            "source": m.source,
        },
    }


def main():
    args = parse_args()
    sys.path.insert(0, args.stubs)
    try:
        import grpc
        import alarm_server_pb2 as pb
        import alarm_server_pb2_grpc as pb_grpc
    except ImportError as e:
        print(f"compat_client: cannot import grpc or the stubs from {args.stubs}: {e}\n"
              "run .ci/python-setup.sh first", file=sys.stderr)
        return 64

    md = [("authorization", "Bearer " + args.token)] if args.token else None

    def sync(stub, rnd, account):
        n = 0
        for reply in stub.Sync(pb.GetMachineRequest(account=account), timeout=args.call_timeout,
                               metadata=md):
            emit({"call": "Sync", "round": rnd, "request": account, "reply": reply_to_dict(reply)})
            n += 1
        emit({"call": "SyncDone", "round": rnd, "request": account, "replies": n})

    def need(stub, rnd):
        reply = stub.IsNeedSync(pb.IsNeedSyncRequest(), timeout=args.call_timeout, metadata=md)
        emit({"call": "IsNeedSync", "round": rnd, "changedMachineCount": reply.changedMachineCount})
        return reply.changedMachineCount

    try:
        if args.ca:
            with open(args.ca, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            channel = grpc.secure_channel(
                args.target, creds,
                options=[("grpc.ssl_target_name_override", args.server_name)])
        else:
            channel = grpc.insecure_channel(args.target)
        with channel:
            grpc.channel_ready_future(channel).result(timeout=args.call_timeout)
            stub = pb_grpc.AlarmServerStub(channel)
            # Round 1: the cron worker's loop — poll until something changed, then Sync.
            deadline = time.monotonic() + args.wait_seconds
            while True:
                if need(stub, 1) > 0:
                    sync(stub, 1, "")
                    break
                if time.monotonic() >= deadline:
                    emit({"call": "WaitTimeout", "round": 1, "seconds": args.wait_seconds})
                    break
                time.sleep(args.poll_interval)
            for rnd in range(2, args.rounds + 1):
                need(stub, rnd)
                sync(stub, rnd, "")
            for account in args.account:
                sync(stub, 0, account)
    except grpc.FutureTimeoutError:
        print(f"compat_client: could not connect to {args.target} within {args.call_timeout} s",
              file=sys.stderr)
        return 2
    except grpc.RpcError as e:
        print(f"compat_client: gRPC error {e.code().name}: {e.details()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
