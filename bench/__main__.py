"""python -m bench [--quick]: nginx, a bare relay and the gateway under the same load on one fake upstream.

Prints absolute numbers, the gateway's ratios to the bare relay against the issue's goals (PASS/MISS), and
checks that the fake upstream, the load generators and the machine were not the bottleneck; writes everything
to bench/results/<time>.json. Only 127.0.0.1 is used, and every step is bounded in count and time.
"""

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: the stream client holds thousands at once

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

from . import report, scenarios  # noqa: E402
from .goals import (  # noqa: E402
    OTHER_BUSY_MAX,
    Verdict,
    checks,
    s1_goals,
    s1_proxy_goals,
    s1_redis_goals,
    s2_goals,
    s3_goals,
    s4_goals,
    s5_goals,
    s6_goals,
)
from .meter import machine_busy_pct  # noqa: E402
from .systems import CONF, NGINX, REDIS, ROOT, Lineup  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Plan:
    """How much of each scenario to run."""

    s1_seconds: float  # per wrk run
    s1_rounds: int  # alternations over the systems
    s2_streams: int  # per system
    s3_levels: tuple[int, ...]  # concurrent streams
    s3_events: int  # per stream, 1 s apart
    s3_rate: float  # streams opened per second
    s4_repeats: int  # big requests of each size, one at a time
    s6_streams: int  # on the gateway, opened over 10 s (issue 31: a host's worth)


FULL = Plan(1, 24, 60, (500, 1000, 2000), 15, 400, 5, 10000)
QUICK = Plan(1, 4, 15, (2000,), 8, 400, 2, 2000)
SCENARIOS = ("s1", "s2", "s3", "s4", "s4f", "s5", "s1r", "s1p", "s6")


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_fd_limit() -> None:
    """Thousands of sockets here and in the servers, which inherit the limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 10000:
        say(f"warning: the open-file limit is {hard}; 2,000 streams need about 10,000")


def wait_for_quiet(patience: float) -> None:
    """Before starting, wait up to `patience` seconds for the machine to be idle; warn if it is not."""
    deadline = time.monotonic() + patience
    while (busy := machine_busy_pct(2)) > OTHER_BUSY_MAX:
        if time.monotonic() > deadline:
            say(f"warning: other processes keep {busy:.0f}% of a core busy; the numbers may be disturbed")
            return
        say(f"waiting for a quiet machine: other processes keep {busy:.0f}% of a core busy")


def run(plan: Plan, only: list[str], conf: str, team_key: bool = False) -> dict:
    """Start the lineup, run the chosen scenarios on it, stop it; the results by scenario."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    results: dict = dict.fromkeys(SCENARIOS)
    with ExitStack() as running:
        say(f"starting the fake upstream, nginx, the bare relay and the gateway (logs in {workdir})")
        lineup = Lineup.start(running, workdir, conf, team_key, with_redis="s1r" in only, with_proxy="s1p" in only)
        if "s1" in only:
            say(f"S1: wrk, {plan.s1_rounds} x {plan.s1_seconds:g} s per system and concurrency")
            results["s1"] = scenarios.s1(lineup, plan.s1_seconds, plan.s1_rounds)
        if "s2" in only:
            say(f"S2: {plan.s2_streams} streams per system, one at a time")
            results["s2"] = scenarios.s2(lineup, plan.s2_streams)
        if "s3" in only:
            say(f"S3: {', '.join(map(str, plan.s3_levels))} concurrent streams per system, {plan.s3_rate:g} opened/s")
            results["s3"] = scenarios.s3(lineup, list(plan.s3_levels), plan.s3_events, plan.s3_rate)
        if "s4" in only:
            say(f"S4: 1, 5 and 18 MB bodies x {plan.s4_repeats} alone, then twice a second among 200 streams")
            results["s4"] = scenarios.s4(lineup, plan.s4_repeats)
        if "s4f" in only:
            say(f"S4f: 1, 5 and 14 MB of media inline vs as an uploaded file, x {plan.s4_repeats}, on the gateway")
            results["s4f"] = scenarios.s4_files(lineup, plan.s4_repeats)
        if "s5" in only:
            say("S5: image streams with 2, 4 and 8 MB events")
            results["s5"] = scenarios.s5(lineup)
        if "s1r" in only:
            say("S1 with Redis: the gateway in SQLite mode and in Redis mode, alternating")
            results["s1r"] = scenarios.s1_redis(lineup, plan.s1_seconds, plan.s1_rounds)
        if "s1p" in only:
            say("S1 over HTTPS: the gateway direct and with every account behind tinyproxy, alternating")
            results["s1p"] = scenarios.s1_proxy(lineup, plan.s1_seconds, plan.s1_rounds)
        if "s6" in only:
            say(f"S6: {plan.s6_streams} streams on the gateway opened over 10 s, 10 events 1 s apart")
            results["s6"] = scenarios.s6(lineup, plan.s6_streams)
    shutil.rmtree(workdir, ignore_errors=True)  # kept (with the logs) when something failed
    return results


def environment() -> dict:
    """What the numbers were measured on."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "gateway"], cwd=ROOT, capture_output=True, text=True)
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit.stdout.strip(),
        "gateway_modified": bool(dirty.stdout.strip()),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def evaluate(saved: dict) -> tuple[list[str], list[Verdict], list[Verdict]]:
    """The report's lines, the goals and the harness checks of saved results."""
    s1, s2, s3, plan = saved["s1"], saved["s2"], saved["s3"], saved["plan"]
    s4, s5, s1r, s6 = saved.get("s4"), saved.get("s5"), saved.get("s1r"), saved.get("s6")
    s1p = saved.get("s1p")
    goals = (s1_goals(s1) if s1 else []) + (s2_goals(s2) if s2 else [])
    goals += s3_goals(s3, plan["s3_levels"][-1]) if s3 else []
    goals += (s4_goals(s4) if s4 else []) + (s5_goals(s5) if s5 else []) + (s1_redis_goals(s1r) if s1r else [])
    goals += (s1_proxy_goals(s1p) if s1p else []) + (s6_goals(s6) if s6 else [])
    harness = checks(s1, s2, s3, s1p, s6)
    lines = (report.s1_table(s1) if s1 else []) + (report.s2_table(s2) if s2 else [])
    lines += report.s3_table(s3, plan["s3_events"], plan["s3_rate"]) if s3 else []
    lines += (report.s4_table(s4) if s4 else []) + (report.s4_files_table(saved["s4f"]) if saved.get("s4f") else [])
    lines += report.s5_table(s5) if s5 else []
    lines += report.s1_redis_table(s1r) if s1r else []
    lines += report.s1_proxy_table(s1p) if s1p else []
    lines += report.s6_table(s6) if s6 else []
    lines += report.verdict_table("Goals (the gateway against this run's own yardsticks)", goals)
    lines += report.verdict_table("Harness checks (the fake, the load generators and the machine had room)", harness)
    return lines, goals, harness


def main() -> None:
    """Run (or read a saved run with --report), print the report, save the results."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~2 minute smoke run (2,000 streams only)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--s3-rate", type=float, help="S3 streams opened per second (default 400)")
    parser.add_argument("--s6-streams", type=int, metavar="N", help="S6 streams on the gateway (default 10,000)")
    parser.add_argument("--gunicorn-conf", default=CONF, help="settings for the bare relay and the gateway")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="S", help="wait up to S s for an idle machine")
    parser.add_argument(
        "--team-key", action="store_true", help="the gateway's clients use a team key, not the admin key"
    )
    parser.add_argument("--report", type=Path, metavar="JSON", help="print the report of saved results, run nothing")
    args = parser.parse_args()
    if args.report:
        print("\n".join(evaluate(json.loads(args.report.read_text()))[0]))
        return
    tools = (("nginx", NGINX), ("wrk", shutil.which("wrk")), ("redis-server", REDIS))
    if missing := [tool for tool, found in tools if not found]:
        sys.exit(f"python -m bench needs {' and '.join(missing)}: sudo apt-get install -y {' '.join(missing)}")
    plan = QUICK if args.quick else FULL
    plan = replace(plan, s3_rate=args.s3_rate) if args.s3_rate else plan
    plan = replace(plan, s6_streams=args.s6_streams) if args.s6_streams else plan
    raise_fd_limit()
    wait_for_quiet(args.wait_quiet)
    started = time.monotonic()
    results = run(plan, args.only, args.gunicorn_conf, args.team_key)
    saved = {
        "environment": environment(),
        "plan": {**asdict(plan), "quick": args.quick, "gunicorn_conf": args.gunicorn_conf, "team_key": args.team_key},
        "duration_s": time.monotonic() - started,
        **results,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(saved, indent=2))  # first the numbers, whatever happens to the report
    lines, goals, harness = evaluate(saved)
    saved.update(goals=[asdict(v) for v in goals], checks=[asdict(v) for v in harness])
    out.write_text(json.dumps(saved, indent=2))
    print("\n".join(lines))
    say(f"done in {saved['duration_s']:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
