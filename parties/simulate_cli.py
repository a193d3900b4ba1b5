"""`mpc simulate`: its options, and the command that runs it.

The work is done by `mpc.simulate` (in memory) and `parties.simulate`
(daemons), imported when the command runs, so that building the `mpc`
parser stays cheap.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `mpc simulate` to its parser."""
    parser.add_argument("job_file", help="job file (TOML)")
    parser.add_argument(
        "--data", action="append", default=[],
        metavar="PARTY[:DATASET]=PATH",
        help="a party's dataset file (CSV, CSV.gz or Parquet); DATASET "
        "may be left out when the job reads one dataset; repeatable")
    parser.add_argument(
        "--synthetic", action="append", default=[],
        metavar="[PARTY:]n=N,low=L,high=H",
        help="synthetic records for every party without --data, or for "
        "PARTY (default n=1000,low=0,high=100); repeatable")
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the synthetic inputs (default %(default)s)")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS",
        help="delay of every message, in memory (default %(default)s)")
    parser.add_argument(
        "--bandwidth", type=float, default=0.0, metavar="BYTES_PER_S",
        help="link rate per message, in memory; 0 for none "
        "(default %(default)s)")
    parser.add_argument(
        "--processes", type=int, default=0, metavar="N",
        help="in memory, run proofs in N processes instead of two "
        "threads per party (default %(default)s)")
    parser.add_argument(
        "--daemons", action="store_true",
        help="run one real daemon per party on 127.0.0.1 instead")
    parser.add_argument(
        "--keep", metavar="DIR",
        help="with --daemons, keep the daemons' files and logs in DIR")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON")


def _parse_synthetic(values: list[str], parties: tuple[str, ...]
                     ) -> dict[str, Any]:
    """Parse --synthetic options into one mpc.simulate.Synthetic per
    party."""
    from mpc import simulate as sim

    default: dict[str, float] = {}
    per_party: dict[str, dict[str, float]] = {}
    for value in values:
        party, sep, rest = value.partition(":")
        if not sep:
            party, rest = "", value
        elif party not in parties:
            raise ValueError(f"--synthetic {value}: {party!r} is not a "
                             f"party of the job {list(parties)}")
        fields = per_party.setdefault(party, {}) if party else default
        for item in filter(None, rest.split(",")):
            key, eq, number = item.partition("=")
            if not eq or key not in ("n", "low", "high"):
                raise ValueError(f"--synthetic expects n=N,low=L,high=H, "
                                 f"got {item!r}")
            try:
                fields[key] = int(number) if key == "n" else float(number)
            except ValueError:
                raise ValueError(f"--synthetic {key}: not a number: "
                                 f"{number!r}") from None
    return {p: sim.Synthetic(**{**default, **per_party.get(p, {})})
            for p in parties}


def _parse_data(values: list[str], spec: Any) -> dict[str, dict]:
    """Parse --data options into {party: {dataset: path}}."""
    inputs: dict[str, dict[str, str]] = {}
    for value in values:
        target, eq, path = value.partition("=")
        party, _, dataset = target.partition(":")
        if not eq or not path or not party:
            raise ValueError(f"--data expects PARTY[:DATASET]=PATH, got "
                             f"{value!r}")
        if party not in spec.parties:
            raise ValueError(f"--data {value}: {party!r} is not a party of "
                             f"the job {list(spec.parties)}")
        if not dataset:
            if len(spec.datasets) != 1:
                raise ValueError(
                    f"--data {value}: the job reads datasets "
                    f"{list(spec.datasets)}; write PARTY:DATASET=PATH")
            dataset = spec.datasets[0]
        if not Path(path).is_file():
            raise ValueError(f"--data {value}: no file {path}")
        inputs.setdefault(party, {})[dataset] = path
    return inputs


def run(args: argparse.Namespace) -> int:
    """Run `mpc simulate`; return the exit code (1 if the job aborted).

    Raises ValueError, which the CLI prints, for a bad job file or
    option.
    """
    from mpc import simulate as sim
    from mpc.spec import SpecError

    try:
        with open(args.job_file, "rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"job file {args.job_file} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"job file {args.job_file} is not valid TOML: "
                         f"{exc}") from None
    try:
        spec = sim.as_spec(table)
    except SpecError as exc:
        raise ValueError(f"job file {args.job_file}: {exc}") from None
    report = sim.simulate(
        spec, _parse_data(args.data, spec),
        synthetic=_parse_synthetic(args.synthetic, spec.parties),
        seed=args.seed, latency=args.latency, bandwidth=args.bandwidth,
        daemons=args.daemons, processes=args.processes, keep=args.keep)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.table())
    return 0 if report.completed else 1
