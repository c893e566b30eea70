"""`make bench`'s summary: one table of the benchmarks' headline figures (the JSON each wrote
with `--json-out`), printed, and recorded in bench/RESULTS.md with the machine and the date.

    python -m bench.table [--dir bench/out] [--record bench/RESULTS.md] [--record-reduced]

A benchmark with no JSON failed before it finished; its row says so. Only a full run (every
benchmark, every option at its default) is recorded, unless `--record-reduced` is given, which
records it under a heading saying it is not the benchmark. Exits non-zero when a row failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.common import ROOT

# In the order `make bench` runs them: (file name, row label, figure digits).
BENCHMARKS = (
    ("ingest", "ingest: POST contacts / bare INSERT", 1),
    ("claim", "claim-next / raw SKIP LOCKED loop", 1),
    ("report", "SLA report of a month / hand-written SQL", 3),
    ("portfolio", "slower of a firm's SLA report and the portfolio / the 1 s target", 3),
    ("billing", "billing close of a month / one-statement SQL rating", 3),
    ("memory", "API worker memory: after the run / after warm-up", 1),
    ("web", "slowest page p95 / its API call", 1),
    ("wallboard", "wallboard snapshot p95 / the 50 ms budget", 1),
    ("streams", "live streams: a change to all of them / 1 s target", 3),
    ("scan", "SLA scan pass, 1 process / the 10 s target", 2),
    ("floor", "at-risk list and wallboard, slowest p95 / the 100 ms target", 1),
)
HEADER = ("benchmark", "ours", "reference", "ratio", "verdict")
RESULTS_INTRO = """# Benchmark results

Runs of `make bench` (see README.md in this directory), newest last. Each row: our figure, the
reference figure, ratio = ours / reference; for a rate (/s) below 1 is what Switchboard costs
on top of the bare reference, for seconds and MiB above 1 is. Compare ratios within one run;
absolute figures move with the machine and with whatever else runs on it.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.table", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dir", default="bench/out", help="where the JSON results are")
    parser.add_argument("--record", metavar="PATH", help="append a full run to this file")
    parser.add_argument(
        "--record-reduced",
        action="store_true",
        help="record a run with reduced sizes too, labelled as such",
    )
    return parser.parse_args(argv)


def load(directory: Path) -> dict[str, dict | None]:
    results: dict[str, dict | None] = {}
    for name, _label, _digits in BENCHMARKS:
        path = directory / f"{name}.json"
        results[name] = json.loads(path.read_text()) if path.exists() else None
    return results


def figure(side: dict, digits: int) -> str:
    if side.get("value") is None:
        return "n/a"
    return f"{side['value']:,.{digits}f} {side['unit']}"


def label(name: str, default: str, result: dict | None) -> str:
    """The row's name with the size it was measured at."""
    details = (result or {}).get("details", {})
    size = {
        "ingest": lambda d: f"{d.get('requests', 0):,} POSTs",
        "claim": lambda d: (
            f"{d.get('contacts', 0):,} contacts, {d.get('queues', 1)} queues of "
            f"{d.get('firms', 1)} firms, {d.get('agents')} agents, via {d.get('via')}"
        ),
        "report": lambda d: f"{d.get('contacts', 0):,} contacts",
        "portfolio": lambda d: (
            f"{d.get('contacts', 0):,} contacts a year, {d.get('firms')} firms, the biggest "
            f"{d.get('big_firm_contacts', 0):,}"
        ),
        "billing": lambda d: f"{d.get('handled_contacts', 0):,} contacts, {d.get('tenants')} firms",
        "memory": lambda d: f"{d['samples_kib'][-1]['requests']:,} requests",
        "web": lambda d: f"{d.get('contacts', 0):,} contacts, {d.get('slowest_page')}",
        "wallboard": lambda d: (
            f"{d.get('tenants')} firms, {d.get('queues')} queues, {d.get('agents')} agents"
        ),
        "streams": lambda d: f"{d.get('streams', 0):,} streams of each kind",
        "scan": lambda d: (
            f"{d.get('open', 0):,} open contacts, {d.get('firms')} firms, "
            f"{d.get('transitions', 0):,} transitions"
        ),
        "floor": lambda d: (
            f"{d.get('open', 0):,} open contacts, {d.get('firms')} firms, "
            f"{d.get('agents', 0):,} agents; slowest: {d.get('slowest')}"
        ),
    }[name]
    try:
        return f"{default} ({size(details)})" if result else default
    except (KeyError, IndexError, TypeError):
        return default


def rows(results: dict[str, dict | None]) -> list[tuple[str, ...]]:
    table = []
    for name, default, digits in BENCHMARKS:
        result = results[name]
        if result is None:
            table.append(
                (label(name, default, None), "", "", "", "FAILED: no result (see its output)")
            )
            continue
        ratio = result.get("ratio")
        table.append(
            (
                label(name, default, result),
                figure(result["ours"], digits),
                figure(result["reference"], digits),
                f"{ratio:.2f}x" if ratio is not None else "n/a",
                result["verdict"],
            )
        )
    return table


def markdown(table: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *table]) for i in range(len(HEADER))]
    right = {1, 2, 3}

    def line(cells) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(HEADER), rule, *(line(row) for row in table)])


# --- the machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_revision() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} with uncommitted changes" if changed else head


def environment(results: dict[str, dict | None]) -> list[str]:
    postgres = sorted({r["postgres"] for r in results.values() if r and r.get("postgres")})
    busy = [
        f"{name} {r['busy_before']}" for name, r in results.items() if r and r.get("busy_before")
    ]
    return [
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{memory_gib()} RAM",
        f"Python {platform.python_version()}, PostgreSQL {', '.join(postgres) or 'unknown'}, "
        f"gunicorn {version_of('gunicorn')}",
        f"Source: {source_revision()}",
        "Machine before each benchmark: " + (", ".join(busy) or "unknown"),
    ]


def reduced(results: dict[str, dict | None]) -> list[str]:
    """What makes this run not the full benchmark: missing results, changed options."""
    reasons = []
    for name, result in results.items():
        if result is None:
            reasons.append(f"{name}: no result")
        elif result.get("non_default_options"):
            options = ", ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in result["non_default_options"].items()
            )
            reasons.append(f"{name}: {options}")
    return reasons


def record(path: Path, table: str, lines: list[str], reasons: list[str]) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    heading = f"## {when}" if not reasons else f"## {when}: smoke run, reduced sizes"
    section = [heading, ""]
    section += [f"- {line}" for line in lines]
    if reasons:
        section.append("- NOT THE BENCHMARK, options changed: " + "; ".join(reasons))
    section += ["", table, ""]
    text = path.read_text() if path.exists() else RESULTS_INTRO
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = load(Path(args.dir))
    table = markdown(rows(results))
    lines = environment(results)
    reasons = reduced(results)
    print("\nSummary: make bench")
    print(table)
    print("  ratio = ours / reference: for /s below 1, for s and MiB above 1, is our cost")
    for line in lines:
        print(f"  {line}")
    if reasons:
        print("  reduced run (" + "; ".join(reasons) + ")")
    if args.record:
        if reasons and not args.record_reduced:
            print(f"  not recorded in {args.record}: not a full run")
        else:
            record(Path(args.record), table, lines, reasons)
            print(f"  recorded in {args.record}")
    failed = [name for name, r in results.items() if r is None or not r.get("ok")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
