"""The `mpc` command line: keys and configs, daemons, jobs, budget, demo.

Logging handlers are configured here and nowhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from parties import config as cfg

log = logging.getLogger("parties.cli")


class CliError(Exception):
    """An error to print for the operator, without a traceback."""


# Logging.


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, json_format: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


# Subcommands.


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise CliError(f"{option} expects NAME=VALUE, got {value!r}")
        out[name] = rest
    return out


def _init_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Validate `mpc init` options before anything is written."""
    try:
        cfg.validate_party_id(args.party_id)
        cfg.split_address(args.listen)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not args.phase_timeout > 0:
        raise CliError(
            f"--phase-timeout must be > 0 seconds, got {args.phase_timeout}")
    datasets: dict[str, dict] = {}
    for value in args.dataset or []:
        name, path = _pairs([value], "--dataset").popitem()
        if name in datasets:
            raise CliError(f"--dataset {name!r} is given twice")
        datasets[name] = {"path": path, "missing": args.missing}
    caps = {}
    for name, value in _pairs(args.max_epsilon, "--max-epsilon").items():
        if name not in datasets:
            raise CliError(
                f"--max-epsilon {name}={value}: no --dataset {name}=PATH")
        try:
            caps[name] = float(value)
        except ValueError:
            caps[name] = -1.0
        if not caps[name] >= 0:
            raise CliError(
                f"--max-epsilon {name}={value}: must be a number >= 0")
    if not args.default_max_epsilon >= 0:
        raise CliError("--default-max-epsilon must be >= 0")
    for name in datasets:
        caps.setdefault(name, args.default_max_epsilon)
    return {
        "party_id": args.party_id,
        "listen": args.listen,
        "state_dir": "state",
        "deployment": args.deployment,
        "phase_timeout": args.phase_timeout,
        "datasets": datasets,
        "policy": {
            "initiators": args.initiators.split(","),
            "max_epsilon": caps,
        },
    }


def cmd_init(args: argparse.Namespace) -> int:
    from parties.certs import create_identity

    fields = _init_fields(args)
    directory = Path(args.dir)
    config_path = directory / "party.toml"
    if config_path.exists():
        raise CliError(f"{config_path} exists; choose another --dir")
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = create_identity(args.party_id, directory)
    fields.update(key=key_path.name, certificate=cert_path.name)
    cfg.write_party_config(config_path, **fields)
    print(f"created {key_path} (keep it private)")
    print(f"created {cert_path} (give it to the other parties)")
    print(f"created {config_path}")
    print(
        f"next: write the deployment file {directory / args.deployment} "
        "with `mpc deployment`, then run `mpc check`"
    )
    return 0


def cmd_deployment(args: argparse.Namespace) -> int:
    entries = {}
    for value in args.party:
        parts = value.split("=")
        if len(parts) != 3:
            raise CliError(
                f"--party expects ID=HOST:PORT=CERTIFICATE, got {value!r}"
            )
        party_id, address, certificate = parts
        entries[party_id] = {"address": address, "certificate": certificate}
    path = cfg.write_deployment(args.output, entries)
    cfg.load_deployment(path)
    print(f"wrote {path} with parties {', '.join(entries)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from parties.daemon import serve

    config = cfg.load_party_config(args.config)
    configure_logging(
        args.log_level, args.log_json or config.log_format == "json"
    )
    asyncio.run(serve(args.config))
    return 0


def _load_job_file(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise CliError(f"job file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"job file {path} is not valid TOML: {exc}") from None


PHASE_ORDER = (
    "propose",
    "commit",
    "echo",
    "share",
    "verify",
    "reveal",
    "check",
)


def _progress(event: dict, started: float) -> None:
    phase = event["phase"]
    step = PHASE_ORDER.index(phase) + 1 if phase in PHASE_ORDER else 0
    bar = "#" * step + "." * (len(PHASE_ORDER) - step)
    elapsed = time.monotonic() - started
    if event["state"] == "running":
        print(f"  [{bar}] {elapsed:6.2f} s  {phase}", file=sys.stderr)
    elif event["state"] == "completed":
        print(
            f"  [{'#' * len(PHASE_ORDER)}] {elapsed:6.2f} s  done",
            file=sys.stderr,
        )
    else:
        culprits = ", ".join(event.get("culprits") or []) or "none named"
        print(
            f"  aborted in phase {phase} after {elapsed:.2f} s: "
            f"{event.get('reason')} (parties at fault: {culprits})",
            file=sys.stderr,
        )


async def submit_and_watch(config_path: str, table: dict, quiet: bool) -> dict:
    """Submit a job to a party's daemon and follow it to its end."""
    from parties.client import ControlClient

    async with ControlClient.from_config_file(config_path) as client:
        job_id = await client.submit(table)
        if not quiet:
            print(f"job {job_id} submitted", file=sys.stderr)
        started = time.monotonic()
        previous = None
        async for event in client.watch(job_id):
            # A job's history contains propose twice: the store records
            # it when the job is created, and the job when it starts.
            key = (event["state"], event["phase"])
            if not quiet and key != previous:
                _progress(event, started)
            previous = key
        return await client.job(job_id)


def format_result(job: dict) -> str:
    """Render a job's result (or abort) as a text table."""
    if job["state"] != "completed":
        culprits = ", ".join(job.get("culprits") or []) or "none named"
        return (
            f"job {job['job_id']} {job['state']} in phase "
            f"{job['phase']}: {job['reason']} "
            f"(parties at fault: {culprits})"
        )
    result = job["result"]
    lines = [
        f"job {result['job_id']} ({result['name']}): "
        f"{'verified' if result['verified'] else 'NOT verified'}, "
        f"epsilon {result['epsilon']:g}, delta {result['delta']:g}, "
        f"{result['mechanism']} noise, parties "
        f"{', '.join(result['parties'])}",
    ]
    lines.extend(format_query_rows(result["queries"], {}, result["verified"]))
    return "\n".join(lines)


def format_query_rows(
    queries: list[dict], exact: dict[str, Any], verified: bool
) -> list[str]:
    """Rows of query, noisy value, 95% interval, exact value, verified."""
    header = f"{'query':<24} {'noisy':>10} {'95% interval':>20}"
    if exact:
        header += f" {'exact':>10}"
    header += f" {'verified':>9}"
    rows = [header, "-" * len(header)]
    mark = "yes" if verified else "no"
    for query in queries:
        name = query["name"]
        if "values" not in query:
            rows.append(_row(name, query.get("value"),
                             query.get("interval95"), exact.get(name),
                             bool(exact), mark))
            continue
        count = len(query["values"])
        bins = query.get("bins")
        truth = exact.get(name) or [None] * count
        for index, (value, interval, true) in enumerate(zip(
            query["values"], query["intervals95"], truth
        )):
            if index == MAX_ELEMENT_ROWS and count > MAX_ELEMENT_ROWS + 1:
                rows.append(f"{name}: {count - index} more elements; "
                            "`mpc job result JOB --csv FILE` writes them "
                            "all")
                break
            if bins is None:
                label = f"{name}[{index}]"
            elif isinstance(bins[index], list):
                low, high = bins[index]
                label = f"{name} [{low:g},{high:g})"
            else:
                label = f"{name} {bins[index]}"  # A category.
            rows.append(_row(label, value, interval, true, bool(exact),
                             mark))
    return rows


MAX_ELEMENT_ROWS = 20
"""Elements of a vector or histogram shown before the rest is summed up
in one line."""


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value)}"
    return f"{value:.2f}"


def _row(name: str, value: Any, interval: Any, exact: Any,
         with_exact: bool, verified: str) -> str:
    span = ("-" if interval is None
            else f"[{_number(interval[0])}, {_number(interval[1])}]")
    row = f"{name:<24} {_number(value):>10} {span:>20}"
    if with_exact:
        row += f" {_number(exact):>10}"
    return row + f" {verified:>9}"


def cmd_job_submit(args: argparse.Namespace) -> int:
    table = _load_job_file(args.job_file)
    job = asyncio.run(submit_and_watch(args.config, table, args.json))
    print(json.dumps(job, indent=2) if args.json else format_result(job))
    return 0 if job["state"] == "completed" else 1


def _with_client(config_path: str, action: Any) -> Any:
    from parties.client import ControlClient

    async def run() -> Any:
        async with ControlClient.from_config_file(config_path) as client:
            return await action(client)

    return asyncio.run(run())


def cmd_job_show(args: argparse.Namespace) -> int:
    job = _with_client(args.config, lambda c: c.job(args.job_id))
    print(json.dumps(job, indent=2) if args.json else format_result(job))
    return 0


def cmd_job_result(args: argparse.Namespace) -> int:
    from parties.export import write_csv, write_plot

    job = _with_client(args.config, lambda c: c.job(args.job_id))
    if job["state"] != "completed":
        raise CliError(format_result(job))
    if args.plot:
        write_plot(job["result"], args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.csv:
        write_csv(job["result"], args.csv)
        print(f"wrote {args.csv}", file=sys.stderr)
    print(json.dumps(job["result"], indent=2) if args.json
          else format_result(job))
    return 0


def cmd_job_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    jobs = _with_client(args.config, lambda c: c.jobs(args.limit))
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    print(f"{'job id':<32}  {'state':<9}  {'phase':<8}  {'initiator':<12}"
          "  name / reason")
    for job in jobs:
        name = (job.get("result") or {}).get("name", "")
        print(f"{job['job_id']:<32}  {job['state']:<9}  {job['phase']:<8}"
              f"  {job['initiator']:<12}  {job['reason'] or name}")
    return 0


def cmd_budget(args: argparse.Namespace) -> int:
    budget = _with_client(args.config, lambda c: c.budget())
    if args.json:
        print(json.dumps(budget, indent=2))
        return 0
    print("\n".join(format_budget(budget)))
    return 0


def format_budget(budget: dict[str, dict[str, float]]) -> list[str]:
    """Return the rows of the budget table: the epsilon and the delta
    budget of each dataset, each with its cap, spent, reserved and
    remaining amounts."""
    rows = [f"{'dataset':<16} {'budget':<8} {'cap':>10} {'spent':>10} "
            f"{'reserved':>10} {'remaining':>10}"]
    for name, row in budget.items():
        for kind, shown in (("epsilon", "{:>10.3f}"), ("delta", "{:>10.3g}")):
            figures = " ".join(
                shown.format(row[f"{state}_{kind}"])
                for state in ("cap", "spent", "reserved", "remaining"))
            rows.append(f"{name:<16} {kind:<8} {figures}")
    return rows


def cmd_check(args: argparse.Namespace) -> int:
    from parties.check import as_dicts, check_deployment

    config = cfg.load_party_config(args.config)
    results = asyncio.run(check_deployment(config, args.timeout))
    if args.json:
        print(json.dumps(as_dicts(results), indent=2))
    else:
        print(f"config {config.source} and deployment "
              f"{config.deployment_path} are valid")
        for r in results:
            mark = "ok  " if r.ok else "FAIL"
            latency = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None \
                else "-"
            print(f"{mark} {r.party_id:<16} {r.address:<22} {r.status:<11} "
                  f"{latency:>9}  sha256 {r.fingerprint[:16]}...")
            if r.problem:
                print(f"     {r.problem}")
    return 0 if all(r.ok for r in results) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from parties.demo import run_demo

    configure_logging("warning", False)
    return run_demo(json_output=args.json, keep=args.keep)


def cmd_simulate(args: argparse.Namespace) -> int:
    from parties.simulate_cli import run

    configure_logging("warning", False)
    return run(args)


# The parser.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpc",
        description="Verified, differentially private joint statistics "
        "by secure multi-party computation.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser(
        "init",
        help="create a party's key, certificate and config",
        description="Create PARTY_ID.key, PARTY_ID.crt and party.toml in "
        "--dir.",
    )
    init.add_argument("party_id", help="the party's id, e.g. alice")
    init.add_argument(
        "--dir",
        required=True,
        help="directory for the key, certificate and config",
    )
    init.add_argument(
        "--listen",
        default="127.0.0.1:50051",
        help="host:port the daemon listens on (default %(default)s)",
    )
    init.add_argument(
        "--dataset",
        action="append",
        metavar="NAME=PATH",
        help="a dataset (CSV, CSV.gz or Parquet); repeatable",
    )
    init.add_argument(
        "--max-epsilon",
        action="append",
        metavar="NAME=EPS",
        help="lifetime epsilon cap of a dataset; repeatable",
    )
    init.add_argument(
        "--default-max-epsilon",
        type=float,
        default=10.0,
        help="cap for datasets without --max-epsilon (default %(default)s)",
    )
    init.add_argument(
        "--missing", choices=["drop", "reject"], default="drop",
        help="what a missing or non-numeric value in a queried column does: "
        "drop it (and count it) or reject the job (default %(default)s)",
    )
    init.add_argument(
        "--initiators",
        default="*",
        help="comma-separated parties allowed to propose "
        "jobs, or * for any party in the deployment "
        "(default %(default)s)",
    )
    init.add_argument(
        "--deployment",
        default="deployment.toml",
        help="deployment file path, relative to --dir (default %(default)s)",
    )
    init.add_argument(
        "--phase-timeout",
        type=float,
        default=30.0,
        help="deadline of each protocol phase in seconds "
        "(default %(default)s)",
    )
    init.set_defaults(func=cmd_init)

    deploy = sub.add_parser(
        "deployment",
        help="write a deployment file",
        description="Write a deployment file listing every party's id, "
        "address and pinned certificate.",
    )
    deploy.add_argument("output", help="deployment file to write")
    deploy.add_argument(
        "--party",
        action="append",
        required=True,
        metavar="ID=HOST:PORT=CERT",
        help="a party's id, address and certificate path "
        "(relative to the deployment file); repeatable",
    )
    deploy.set_defaults(func=cmd_deployment)

    serve = sub.add_parser(
        "serve",
        help="run a party daemon",
        description="Run a party daemon until SIGINT or SIGTERM.",
    )
    serve.add_argument("--config", required=True, help="party.toml path")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default %(default)s)",
    )
    serve.add_argument(
        "--log-json", action="store_true", help="write logs as JSON lines"
    )
    serve.set_defaults(func=cmd_serve)

    job = sub.add_parser("job", help="submit and inspect jobs")
    job_sub = job.add_subparsers(dest="job_command", required=True)
    submit = job_sub.add_parser(
        "submit",
        help="submit a job file and watch its phases",
        description="Submit a job file (TOML) to this party's daemon, "
        "which proposes it to the other parties; show each phase and "
        "the result.",
    )
    submit.add_argument("job_file", help="job file (TOML)")
    submit.add_argument("--config", required=True, help="party.toml path")
    submit.add_argument(
        "--json",
        action="store_true",
        help="print the job and its result as JSON only",
    )
    submit.set_defaults(func=cmd_job_submit)
    result = job_sub.add_parser(
        "result", help="show a job's result; plot it or export CSV",
        description="Print a job's result, and optionally draw it as a "
        "PNG with 95%% intervals or export it as CSV.")
    result.add_argument("job_id")
    result.add_argument("--config", required=True, help="party.toml path")
    result.add_argument("--json", action="store_true", help="print JSON")
    result.add_argument("--plot", metavar="FILE.png",
                        help="draw the result to a PNG file")
    result.add_argument("--csv", metavar="FILE.csv",
                        help="write one row per released value")
    result.set_defaults(func=cmd_job_result)
    show = job_sub.add_parser("show", help="show a job and its result")
    show.add_argument("job_id")
    show.add_argument("--config", required=True, help="party.toml path")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_job_show)
    listing = job_sub.add_parser("list", help="list recent jobs")
    listing.add_argument("--config", required=True, help="party.toml path")
    listing.add_argument(
        "--limit",
        type=int,
        default=50,
        help="number of jobs (default %(default)s)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_job_list)

    budget = sub.add_parser(
        "budget", help="show the privacy budget per dataset"
    )
    budget.add_argument("--config", required=True, help="party.toml path")
    budget.add_argument("--json", action="store_true", help="print JSON")
    budget.set_defaults(func=cmd_budget)

    check = sub.add_parser(
        "check", help="check the config and every peer's reachability",
        description="Validate the party config and deployment file, then "
        "reach every party over mutual TLS and check that it holds its "
        "pinned certificate and serves. Exits 1 if any party fails.")
    check.add_argument("--config", required=True, help="party.toml path")
    check.add_argument("--timeout", type=float, default=5.0,
                       help="seconds to wait for each party "
                       "(default %(default)s)")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser(
        "demo",
        help="run three local daemons on the Adult data",
        description="Split the Adult census data among parties alice, bob "
        "and carol, start their daemons on loopback, run one verified, "
        "differentially private job and print each result beside the "
        "exact value.",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object",
    )
    demo.add_argument(
        "--keep", metavar="DIR", help="keep the parties' files and logs in DIR"
    )
    demo.set_defaults(func=cmd_demo)

    from parties.simulate_cli import add_arguments

    simulate = sub.add_parser(
        "simulate", help="run a job with every party and measure it",
        description="Run a job with all of its parties in this process "
        "(or as local daemons with --daemons) on files or synthetic "
        "data, and report wall time, CPU time, bytes and proof sizes per "
        "party and phase, and the result with its noise.")
    add_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (
        CliError,
        ValueError,
        FileExistsError,
        FileNotFoundError,
        RuntimeError,
    ) as exc:
        print(f"mpc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`mpc job list | head`).
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
