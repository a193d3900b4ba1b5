"""One MPyC party of the secure-sum baseline (run by bench.semi).

Started as `python bench/mpyc_sum.py -M m -B port --no-log` with
MPYC_BENCH_DATA, MPYC_BENCH_OUT and MPYC_BENCH_BITS in the environment;
MPyC starts the other m - 1 parties as local processes itself (its `-M`
option without `-I`), with the same command line and environment. Party
i loads DATA_DIR/party-i.npy, the same int64
vector this framework's party i reads, inputs it as a secure integer
array (MPyC's numpy secure arrays), the parties add all inputs, and
every party receives the sum. Each party writes OUT_DIR/party-i.json
with its time from the first input to the opened sum (connections are
made before, in mpc.start), its peak RSS (VmHWM) and MPyC's own count of the
bytes it sent.
"""

from __future__ import annotations

import json
import os
import resource
import time

import numpy as np


def _peak_rss_bytes() -> int:
    """Return this process's peak resident set size in bytes.

    VmHWM where /proc has it, as bench.netstat measures the daemons.
    Linux's ru_maxrss is no substitute: after exec it still counts the
    parent's resident set at fork, so party 0, started by the benchmark
    process, would report the benchmark's memory.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    data_dir = os.environ["MPYC_BENCH_DATA"]
    out_dir = os.environ["MPYC_BENCH_OUT"]
    bits = int(os.environ["MPYC_BENCH_BITS"])
    from mpyc.runtime import mpc

    async def run() -> None:
        secint = mpc.SecInt(bits)
        await mpc.start()
        vector = np.load(os.path.join(data_dir, f"party-{mpc.pid}.npy"))
        started = time.perf_counter()
        shares = mpc.input(secint.array(vector))
        total = shares[0]
        for share in shares[1:]:
            total = total + share
        result = await mpc.output(total)
        elapsed = time.perf_counter() - started
        sent = sum(peer.protocol.nbytes_sent for peer in mpc.parties
                   if peer.pid != mpc.pid)
        await mpc.shutdown()
        info = {
            "pid": mpc.pid,
            "seconds": elapsed,
            "bytes_sent": sent,
            "max_rss_bytes": _peak_rss_bytes(),
            "sum_head": [int(v) for v in np.asarray(result)[:5]],
            "sum_total": int(np.asarray(result, dtype=np.int64).sum()),
        }
        path = os.path.join(out_dir, f"party-{mpc.pid}.json")
        with open(path + ".partial", "w") as file:
            json.dump(info, file)
        os.replace(path + ".partial", path)

    mpc.run(run())


if __name__ == "__main__":
    main()
