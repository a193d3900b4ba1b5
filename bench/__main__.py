"""Run the benchmarks and write docs/benchmarks.md.

    python -m bench [--quick] [--runs N] [--timeout S]
                    [--only semi,verified,dp,secp] [--no-mpyc]

The full grid: semi-honest sums for n = 10^3 .. 10^7 and m = 2, 3, 5, 8
parties against MPyC; verified jobs for n = 10 .. 10^4 values in 8, 16
and 32-bit ranges; the DP samplers; the libsecp256k1 ratios. `--quick`
runs a reduced grid that still contains the cases with targets. Every case
is bounded by --timeout and recorded as "timed out" when it runs over.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench import report

REPO = Path(__file__).resolve().parent.parent

FULL_SEMI_N = [10**3, 10**4, 10**5, 10**6, 10**7]
FULL_SEMI_M = [2, 3, 5, 8]
QUICK_SEMI = [(10**3, 3), (10**5, 3), (10**6, 3), (10**6, 2), (10**6, 5),
              (10**5, 8)]
FULL_VERIFIED_N = [10, 100, 1000, 10**4]
FULL_VERIFIED_BITS = [8, 16, 32]
QUICK_VERIFIED = [(10, 16), (100, 16), (1000, 16), (100, 8), (100, 32)]


def machine() -> dict:
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True,
                                  timeout=10, check=False).stdout
        except OSError:
            return ""

    cpu = next((line.split(":", 1)[1].strip()
                for line in run("lscpu").splitlines()
                if line.startswith("Model name")), platform.processor())
    memory = next((line.split()[1] for line in run("free", "-h").splitlines()
                   if line.startswith("Mem:")), "?")
    # Not `import mpyc`: MPyC parses sys.argv when it is imported.
    try:
        mpyc_version = importlib.metadata.version("mpyc")
    except importlib.metadata.PackageNotFoundError:
        mpyc_version = "not installed"
    import numpy

    return {
        "cpu": cpu, "nproc": os.cpu_count(), "memory": memory,
        "python": platform.python_version(), "numpy": numpy.__version__,
        "mpyc": mpyc_version,
        "coincurve": importlib.metadata.version("coincurve"),
        "load_before": _load(),
    }


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="run the reduced grid")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs per case (median reported)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per case (default 300, quick 120)")
    parser.add_argument("--only", default="semi,verified,dp,secp",
                        help="comma-separated sections to run")
    parser.add_argument("--no-mpyc", action="store_true",
                        help="skip the MPyC baseline")
    parser.add_argument("--out", type=Path,
                        default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other sections of the previous "
                        "run's benchmarks.json and replace only these")
    args = parser.parse_args(argv)
    timeout = args.timeout or (120.0 if args.quick else 300.0)
    sections = set(args.only.split(","))
    command = "scripts/bench " + " ".join(argv if argv is not None
                                          else sys.argv[1:])
    previous: dict = {}
    if args.merge and args.out.with_suffix(".json").exists():
        previous = json.loads(args.out.with_suffix(".json").read_text())
        command = previous.get("command", "") + "; then " + command
    data: dict = {
        **previous,
        "command": command.strip(),
        "date": datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "runs": args.runs, "timeout": timeout,
    }
    with_mpyc = not args.no_mpyc and data["machine"]["mpyc"] != (
        "not installed")

    if "secp" in sections:
        from bench import secp

        print("libsecp256k1 micro-benchmark ...", flush=True)
        data["secp"] = secp.measure()
    if "dp" in sections:
        from bench import dpbench

        print("DP samplers ...", flush=True)
        data["dp"] = dpbench.measure()
    if "semi" in sections:
        from bench import semi

        grid = QUICK_SEMI if args.quick else [
            (n, m) for m in FULL_SEMI_M for n in FULL_SEMI_N]
        data["semi"], data["mpyc_bits"] = [], semi.MPYC_BITS
        for n, m in grid:
            print(f"semi-honest n={n:,} m={m} ...", flush=True)
            case = semi.run_case(n, m, args.runs, timeout, with_mpyc)
            data["semi"].append(case)
            print("  ", json.dumps({k: v for k, v in case.items()}
                                   , default=str)[:400], flush=True)
    if "verified" in sections:
        from bench import verified

        grid = QUICK_VERIFIED if args.quick else [
            (n, b) for b in FULL_VERIFIED_BITS for n in FULL_VERIFIED_N]
        # Keep the end-to-end time of the target case from earlier runs,
        # so that the page shows the spread and not only the last run.
        data["verified_history"] = report.verified_history(previous)
        data["verified_date"] = data["date"]
        data["verified"] = []
        data["proof_workers"] = verified.PROOF_WORKERS
        for n, bits in grid:
            print(f"verified n={n:,} bits={bits} ...", flush=True)
            runs = args.runs if n <= 1000 else 1
            case = verified.run_case(n, bits, runs, timeout)
            data["verified"].append(case)
            print("  ", json.dumps(case, default=str)[:400], flush=True)
    data["load_after"] = _load()

    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = report.plots(data.get("semi", []), out.parent)
    out.write_text(report.markdown(data, figures))
    out.with_suffix(".json").write_text(json.dumps(data, indent=1,
                                                   default=str))
    print()
    print(report.short_table(data))
    print(f"\nwrote {out}, {out.with_suffix('.json').name} and "
          f"{', '.join(figures) or 'no plots'}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Exit at once: a process pool or a gRPC thread may still be running.
    os._exit(code)
