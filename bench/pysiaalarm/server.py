"""A minimal pysiaalarm receiver for bench/sim-pysiaalarm.sh.

Runs pysiaalarm's asyncio TCP server (the one Home Assistant's `sia` integration uses) on
HOST:PORT with the simulator's accounts PREFIX000001 .. PREFIX<count> (pysiaalarm requires
hex accounts, so PREFIX must be hex, e.g. "A"). The event callback only counts events:
pysiaalarm ACKs before calling it and stores nothing.

Prints "ready PORT" on stdout once listening (use --port 0 for any free port); on
SIGTERM/SIGINT prints one JSON line with the number of events handed to the callback and
pysiaalarm's own counters, then exits.
Exits by itself after --max-seconds as a safety net.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from pysiaalarm import SIAAccount
from pysiaalarm.aio import CommunicationsProtocol, SIAClient


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--prefix", default="A", help="account prefix (hex)")
    p.add_argument("--count", type=int, required=True, help="number of accounts")
    p.add_argument("--key", default=None, help="ASCII key (16/24/32 chars), optional")
    p.add_argument("--max-seconds", type=float, default=900.0)
    return p.parse_args()


async def main() -> int:
    args = parse_args()
    # pysiaalarm logs a warning for each odd line; keep the benchmark quiet but visible.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    accounts = [
        SIAAccount(f"{args.prefix}{i:06d}", args.key, allowed_timeband=(300, 300))
        for i in range(1, args.count + 1)
    ]
    events = 0

    async def on_event(_event) -> None:
        nonlocal events
        events += 1

    client = SIAClient(
        args.host, args.port, accounts, function=on_event,
        protocol=CommunicationsProtocol.TCP,
    )
    await client.async_start(reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = client.server.sockets[0].getsockname()[1] if client.server else args.port
    print(f"ready {port}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    except asyncio.TimeoutError:
        pass
    await client.async_stop()
    c = client.counts
    fields = ("events", "valid_events", "error_account", "error_code", "error_crc",
              "error_format", "error_timestamp", "error_user_function")
    counts = {k: getattr(c, k, None) for k in fields}
    print(json.dumps({"events": events, "counts": counts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
