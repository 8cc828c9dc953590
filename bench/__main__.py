"""python -m bench [--quick]: nginx, a bare relay and the gateway side by side on one fake upstream.

Prints absolute numbers, the gateway's ratios to the bare relay, and whether each goal of issue 7 is met;
writes everything to bench/results/<time>.json. Only 127.0.0.1 is used; every run is bounded in time.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from . import servers  # noqa: E402
from .clients import concurrent_streams, stream_once, summary, wrk  # noqa: E402
from .procs import cpu_seconds, rss_mib  # noqa: E402

SYSTEMS = {"nginx": servers.nginx, "bare": servers.bare_relay, "gateway": servers.gateway}


def measure_s1(seconds: int) -> dict:
    """Non-stream generateContent at concurrency 1 and 32."""
    fake, results = servers.upstream(events=2, interval_ms=0), {}
    try:
        for name, start in SYSTEMS.items():
            server = start(fake.port)
            try:
                wrk(server.url, 8, 2)  # warm-up: connections, imports, caches
                for connections in (1, 32):
                    before, fake_before = cpu_seconds(server.pid), cpu_seconds(fake.pid)
                    run = wrk(server.url, connections, seconds)
                    run["cpu_ms_per_request"] = (cpu_seconds(server.pid) - before) / run["requests"] * 1000
                    run["upstream_cpu_ms_per_request"] = (cpu_seconds(fake.pid) - fake_before) / run["requests"] * 1000
                    results[f"{name}/c{connections}"] = run
            finally:
                server.stop()
    finally:
        fake.stop()
    return results


def measure_s2(streams: int) -> dict:
    """20 events 20 ms apart, one stream at a time: time to first event and per-event delay."""
    fake, results = servers.upstream(events=20, interval_ms=20), {}
    try:
        results["direct"] = summary(
            [stream_once(fake.port, "/v1internal:streamGenerateContent?alt=sse") for _ in range(streams)]
        )
        for name, start in SYSTEMS.items():
            server = start(fake.port)
            try:
                stream_once(server.port)  # warm-up
                results[name] = summary([stream_once(server.port) for _ in range(streams)])
            finally:
                server.stop()
    finally:
        fake.stop()
    return results


def measure_s3(levels: list[int]) -> dict:
    """Many slow streams at once (5 events a second apart): errors, latencies, peak memory."""
    fake, results = servers.upstream(events=5, interval_ms=1000), {}
    try:
        for name, start in SYSTEMS.items():
            server = start(fake.port)
            try:
                stream_once(server.port)
                for count in levels:
                    peak = [rss_mib(server.pid)]
                    sampler = gevent.spawn(_sample_rss, server.pid, peak)
                    outcome = summary(concurrent_streams(server.port, count, expected_events=5))
                    sampler.kill()
                    results[f"{name}/{count}"] = {**outcome, "peak_rss_mib": max(peak)}
            finally:
                server.stop()
    finally:
        fake.stop()
    return results


def _sample_rss(pid: int, peak: list[float]) -> None:
    while True:
        peak.append(rss_mib(pid))
        gevent.sleep(0.2)


def goals(s1: dict, s2: dict, s3: dict, top: int) -> list[tuple[str, float, str, bool]]:
    """(goal, measured, target, met) for every goal of issue 7."""

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("inf")

    added = {name: s2[name]["first_event_p50_ms"] - s2["direct"]["first_event_p50_ms"] for name in ("bare", "gateway")}
    rows = []
    for c in (1, 32):
        r = ratio(s1[f"gateway/c{c}"]["rps"], s1[f"bare/c{c}"]["rps"])
        rows.append((f"S1 c={c} throughput vs bare", r, ">= 1.0x (>= 0.8x at worst)", r >= 1.0))
        r = ratio(s1[f"gateway/c{c}"]["cpu_ms_per_request"], s1[f"bare/c{c}"]["cpu_ms_per_request"])
        rows.append((f"S1 c={c} CPU/request vs bare", r, "<= 1.25x", r <= 1.25))
    r = ratio(added["gateway"], added["bare"])
    rows.append(("S2 added time to first event vs bare", r, "<= 1.5x", r <= 1.5))
    delay = s2["gateway"]["event_delay_p50_ms"] - s2["direct"]["event_delay_p50_ms"]
    rows.append(("S2 added per-event delay p50 (ms)", delay, "<= 1 ms", delay <= 1))
    gw, bare = s3[f"gateway/{top}"], s3[f"bare/{top}"]
    rows.append((f"S3 {top} streams: errors", gw["errors"], "0", gw["errors"] == 0))
    rows.append(
        (
            f"S3 {top} streams: first event p99 (ms)",
            gw["first_event_p99_ms"],
            "<= 1000 ms",
            gw["first_event_p99_ms"] <= 1000,
        )
    )
    r = ratio(gw["event_delay_p99_ms"], bare["event_delay_p99_ms"])
    rows.append((f"S3 {top} streams: event delay p99 vs bare", r, "<= 2x", r <= 2))
    r = ratio(gw["peak_rss_mib"], bare["peak_rss_mib"])
    rows.append((f"S3 {top} streams: peak RSS vs bare", r, "<= 1.3x", r <= 1.3))
    return rows


def report(s1: dict, s2: dict, s3: dict, rows: list) -> str:
    lines = ["S1 non-stream generateContent", f"{'system':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"]
    lines += [
        f"{k:<16}{v['rps']:>9.0f}{v['p50_ms']:>9.2f}{v['p99_ms']:>9.2f}{v['cpu_ms_per_request']:>12.2f}"
        for k, v in s1.items()
    ]
    lines += [
        "",
        "S2 stream, 20 events 20 ms apart",
        f"{'system':<16}{'first event p50 ms':>20}{'event delay p50 ms':>20}{'p99 ms':>9}",
    ]
    lines += [
        f"{k:<16}{v['first_event_p50_ms']:>20.2f}{v['event_delay_p50_ms']:>20.2f}{v['event_delay_p99_ms']:>9.2f}"
        for k, v in s2.items()
    ]
    lines += [
        "",
        "S3 concurrent slow streams (5 events, 1 s apart)",
        f"{'system/streams':<16}{'errors':>8}{'first p99 ms':>14}{'delay p99 ms':>14}{'peak RSS MiB':>14}",
    ]
    lines += [
        f"{k:<16}{v['errors']:>8}{v['first_event_p99_ms']:>14.1f}{v['event_delay_p99_ms']:>14.1f}"
        f"{v['peak_rss_mib']:>14.0f}"
        for k, v in s3.items()
    ]
    lines += ["", "Goals (gateway vs bare relay, same run)"]
    lines += [
        f"{'MET ' if met else 'MISS'} {goal:<44}{value:>9.2f}   target {target}" for goal, value, target, met in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs and at most 500 streams (~2 minutes)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of sockets, inherited by the servers
    levels = [500] if args.quick else [500, 1000, 2000]
    s1 = measure_s1(seconds=4 if args.quick else 10)
    s2 = measure_s2(streams=10 if args.quick else 30)
    s3 = measure_s3(levels)
    rows = goals(s1, s2, s3, levels[-1])
    print(report(s1, s2, s3, rows))
    out = Path(__file__).parent / "results" / time.strftime("%Y%m%d-%H%M%S.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"s1": s1, "s2": s2, "s3": s3, "goals": rows, "quick": args.quick}, indent=2))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
