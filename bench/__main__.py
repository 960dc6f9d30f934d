"""Every figure of issue 12 as a ratio against a baseline measured in the same run: `python -m bench`.

    .venv/bin/python -m bench                          # both databases, small sizes: a few minutes
    .venv/bin/python -m bench --db sqlite --only checkins
    .venv/bin/python -m bench --seconds 60 --clients 500 --rows 1000000 --reminders 10000

Prints one table (figure, value, baseline, ratio, target, met), writes bench/results.json and replaces
the "Latest run" section of bench/README.md with the table, the date and the machine.
"""

import argparse
import datetime
import json
import logging
import os
import platform
import re
import sys
import tempfile
from contextlib import contextmanager

from tests.support.databases import postgres_base_url, postgres_schema

from . import checkins, dashboard, reminders, weight

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results.json")
README = os.path.join(HERE, "README.md")
MARKS = ("<!-- latest run: written by python -m bench -->", "<!-- end of latest run -->")
LABELS = {"sqlite": "SQLite (WAL, synchronous=FULL)", "postgres": "PostgreSQL"}


@contextmanager
def database(kind: str):
    """A fresh, empty database of `kind`, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield "sqlite:///" + os.path.join(tmp, "bench.db")
    else:
        with postgres_schema(postgres_base_url(), "attune_bench") as (url, _schema):
            yield url


def row(figure, value, baseline, ratio, target, met) -> dict:
    return {
        "figure": figure,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def checkin_rows(db: str, r: dict) -> list[dict]:
    floor, ours = r["floor"], r["check-in"]
    rate = ours["rps"] / floor["rps"]
    p99 = ours["p99_ms"] / floor["p99_ms"]
    return [
        row(
            f"{db}: POST /api/check-ins req/s",
            f"{ours['rps']:.0f}",
            f"floor {floor['rps']:.0f}",
            rate,
            ">= 0.70x",
            rate >= 0.7,
        ),
        row(
            f"{db}: check-in p99 ms",
            f"{ours['p99_ms']:.1f}",
            f"floor {floor['p99_ms']:.1f}",
            p99,
            "<= 4x",
            p99 <= 4,
        ),
        row(
            f"{db}: check-in errors",
            str(ours["errors"]),
            f"floor {floor['errors']}",
            None,
            "0",
            ours["errors"] == 0,
        ),
    ]


def dashboard_rows(db: str, r: dict) -> list[dict]:
    base = r["/healthz"]["p50_ms"]
    out = []
    for path in ("/dashboard", "/admin", "/clients/<id>"):
        f = r[path]
        out.append(
            row(
                f"{db}: GET {path} p95 ms (warm)",
                f"{f['p95_ms']:.1f}",
                f"/healthz p50 {base:.1f}",
                f["p95_ms"] / base,
                "p95 <= 25 ms",
                f["p95_ms"] <= 25,
            )
        )
        cold = f["first_ms"] / f["p50_ms"]
        out.append(
            row(
                f"{db}: GET {path} first after start",
                f"{f['first_ms']:.1f}",
                f"warm p50 {f['p50_ms']:.1f}",
                cold,
                "<= 2x warm",
                cold <= 2,
            )
        )
        if f["unpublished_first_ms"] is not None:
            live = f["unpublished_first_ms"] / f["p50_ms"]
            out.append(
                row(
                    f"{db}: GET {path} before any published cells",
                    f"{f['unpublished_first_ms']:.1f}",
                    f"warm p50 {f['p50_ms']:.1f}",
                    live,
                    "<= 2x warm",
                    live <= 2,
                )
            )
    return out


def reminder_rows(db: str, r: dict) -> list[dict]:
    d, raw = r["dispatch"], r["raw"]
    ratio = d["per_second"] / raw["per_second"] if raw["per_second"] else 0.0
    return [
        row(
            f"{db}: reminder dispatch pushes/s",
            f"{d['per_second']:.0f}",
            f"raw pywebpush {raw['per_second']:.0f}",
            ratio,
            ">= 0.80x",
            ratio >= 0.8,
        ),
        row(
            f"{db}: reminders lost / duplicated",
            f"{d['lost']} / {d['duplicated']}",
            f"{d['messages']} delivered",
            None,
            "0 / 0",
            d["lost"] == 0 and d["duplicated"] == 0 and not r["errors"],
        ),
    ]


def fault_rows(db: str, r: dict, rate: float) -> list[dict]:
    """The failure mode: every reminder delivered once or recorded undeliverable (its phone gone)."""
    n = r["ledger"]
    bad = {k: v for k, v in n.items() if k not in ("delivered", "undeliverable") and v}
    ok = not bad and not r["errors"] and not r["wrongly_kept_or_retired"]
    return [
        row(
            f"{db}: reminders with {rate:.0%} injected failures: lost / duplicated / gave up / misrecorded",
            f"{n['lost']} / {n['duplicated']} / {n['gave_up']} / {n['misrecorded']}",
            f"{n['delivered']} delivered, {n['undeliverable']} undeliverable (410), "
            f"{sum(r['injected'].values())} injected",
            None,
            "0 / 0 / 0 / 0",
            ok,
        )
    ]


def weight_rows(r: dict) -> list[dict]:
    budget = r["budget"]
    repeat = r["repeat"]
    other = ", ".join(repeat["other"]) or "none"
    return [
        row(
            f"check-in page first load bytes on the wire, {name}",
            str(r[key]),
            f"budget {budget} ({r['files']} files)",
            r[key] / budget,
            "<= 1.00x",
            r[key] <= budget,
        )
        for key, name in (("gzip", "gzip"), ("br", "as Chromium asks (br)"))
    ] + [
        row(
            "check-in page third-party requests",
            str(len(r["third_party"])),
            "none allowed",
            None,
            "0",
            not r["third_party"],
        ),
        row(
            "repeat load of the installed shell: shell files asked of the server",
            str(len(repeat["shell"])),
            f"also asked, not shell files: {other}",
            None,
            "0",
            not repeat["shell"],
        ),
    ]


def table(rows: list[dict]) -> str:
    lines = [
        "| figure | value | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['figure']} | {r['value']} | {r['baseline']} | {ratio} | {r['target']} | {'yes' if r['met'] else '**no**'} |"
        )
    return "\n".join(lines)


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, load average {load} at the end"


def write_readme(text: str) -> None:
    with open(README) as fh:
        readme = fh.read()
    block = f"{MARKS[0]}\n{text}\n{MARKS[1]}"
    pattern = re.compile(re.escape(MARKS[0]) + ".*?" + re.escape(MARKS[1]), re.S)
    readme = (
        pattern.sub(lambda _: block, readme)
        if pattern.search(readme)
        else readme + "\n" + block + "\n"
    )
    with open(README, "w") as fh:
        fh.write(readme)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--only",
        default="checkins,dashboard,reminders,faults,weight",
        help="comma-separated figures",
    )
    parser.add_argument(
        "--seconds", type=float, default=20, help="check-in load: at most this long per side"
    )
    parser.add_argument(
        "--requests", type=int, default=6000, help="check-in load: at most this many per side"
    )
    parser.add_argument(
        "--clients", type=int, default=200, help="signed-in clients the check-ins rotate over"
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrent connections of the load"
    )
    parser.add_argument(
        "--rows", type=int, default=20_000, help="check-ins seeded for the dashboard"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=200,
        help="dashboard requests timed per path (p95 of 40 was the 2nd slowest)",
    )
    parser.add_argument("--reminders", type=int, default=1000, help="due reminders dispatched")
    parser.add_argument("--devices", type=int, default=10, help="phones the reminders go to")
    parser.add_argument(
        "--faults", type=float, default=0.1, help="failure mode: share of pushes that fail"
    )
    parser.add_argument(
        "--fault-reminders",
        type=int,
        default=2000,
        help="failure mode: due reminders (each injected stall waits out the 1 s push timeout)",
    )
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite bench/README.md")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # the app's request and audit lines would bury the figures
    only = set(args.only.split(","))
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    started = datetime.datetime.now(datetime.UTC)
    raw: dict = {}
    rows: list[dict] = []
    for kind in kinds:
        label = LABELS[kind]
        if "checkins" in only:
            with database(kind) as url:
                print(f"{label}: check-ins vs the durable-write floor ...", flush=True)
                r = checkins.run(
                    url,
                    clients=args.clients,
                    connections=args.connections,
                    seconds=args.seconds,
                    requests=args.requests,
                )
                raw[f"{kind}/checkins"] = r
                rows += checkin_rows(kind, r)
        if "dashboard" in only:
            with database(kind) as url:
                therapists = dashboard.therapists_for(args.rows)
                r = dashboard.run(label, url, args.rows, therapists, args.repeat)
                raw[f"{kind}/dashboard"] = r
                rows += dashboard_rows(kind, r)
        if "reminders" in only:
            with database(kind) as url:
                print(f"{label}: reminder dispatch vs raw pywebpush ...", flush=True)
                r = reminders.run(url, count=args.reminders, devices=args.devices)
                raw[f"{kind}/reminders"] = r
                rows += reminder_rows(kind, r)
        if "faults" in only:
            with database(kind) as url:
                print(f"{label}: reminders with injected failures ...", flush=True)
                count = args.fault_reminders
                r = reminders.run_faults(
                    url, count=count, devices=max(10, count // 10), rate=args.faults
                )
                raw[f"{kind}/faults"] = r
                rows += fault_rows(kind, r, args.faults)
    if "weight" in only:  # one server and one browser: the page is the same on either database
        print("check-in page weight ...", flush=True)
        raw["weight"] = weight.run()
        rows += weight_rows(raw["weight"])
    text = table(rows)
    print()
    print(text)
    sizes = {k: v for k, v in vars(args).items() if k not in ("no_readme",)}
    result = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "options": sizes,
        "figures": rows,
        "raw": raw,
    }
    for figures in raw.values():  # latencies are long; the summaries keep what the table needs
        for side in figures.values() if isinstance(figures, dict) else ():
            if isinstance(side, dict):
                side.pop("latencies_ms", None)
    with open(RESULTS, "w") as fh:
        json.dump(result, fh, indent=2, default=str)
    if not args.no_readme:
        options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sizes.items())
        write_readme(
            f"`python -m bench {options}`, started {started:%Y-%m-%d %H:%M} UTC on {machine()}.\n\n{text}"
        )
    print(f"\nwrote {os.path.relpath(RESULTS)}")
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
