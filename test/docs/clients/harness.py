# Runs the Python client of docs/gating.md (imported as written) with a unit of work that records, on
# CLOCK_MONOTONIC, when it really acted: one JSON line per unit on stdout.
import json
import sys
import time

import leasehold_client


def work(epoch, deadline):
    start = time.monotonic_ns()
    # A unit of at most 100 ms that stops by the deadline, as the docs ask.
    stop = min(deadline, time.monotonic() + 0.1)
    while time.monotonic() < stop - 0.005:
        time.sleep(0.005)
    print(json.dumps({"start": str(start), "end": str(time.monotonic_ns()), "epoch": epoch}), flush=True)


leasehold_client.run_while_leader(work)
