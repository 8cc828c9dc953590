"""S1 to S6: the same load on every system of a lineup, measured from the client and from /proc."""

from __future__ import annotations

import base64
import os
import statistics
from collections import defaultdict
from pathlib import Path

import gevent

from . import big
from .load import script, wrk
from .meter import SIDECARS
from .procs import Tree
from .streams import HEADERS, body, many, stream, summary
from .systems import Lineup, System

S1_EVENTS = 2  # a short answer: the cost per request, not per event
S2_EVENTS, S2_INTERVAL_MS = 20, 20
S3_INTERVAL_MS = 1000
BUSY = ("fake_busy_pct", "loadgen_busy_pct", "other_busy_pct", "steal_pct")
HARNESS, MACHINE = BUSY[:2], BUSY[2:]  # what the run itself loads; what the rest of the machine took


def s1(lineup: Lineup, seconds: float, rounds: int, systems: list[System] | None = None) -> dict[str, dict]:
    """Non-stream generateContent with wrk at 1 and 32 connections.

    In each round every system runs once per concurrency, back to back, and in the reverse order of the round
    before: the systems compared are measured side by side in time and none always goes first. Many short
    rounds rather than a few long ones: on a shared machine one run can be a fifth off the next, whatever its
    length, so ratios are taken round by round (goals.paired) and their median reported."""
    systems = systems or lineup.systems
    lua = script(body(S1_EVENTS, 0), HEADERS, lineup.workdir)
    for system in systems:  # warm-up: connections, pools, lazy imports
        wrk(system.url + system.generate_path, lua, 8, 1)
    runs: dict[str, list[dict]] = defaultdict(list)
    for n in range(rounds):
        for connections in (1, 32):
            for system in systems if n % 2 == 0 else systems[::-1]:
                runs[f"{system.name}/c{connections}"].append(_wrk_run(lineup, system, lua, connections, seconds))
    return {key: _combine(samples) for key, samples in runs.items()}


def _wrk_run(lineup: Lineup, system: System, lua: Path, connections: int, seconds: float) -> dict:
    """One wrk run, with the CPU everyone spent during it."""
    meter = lineup.meter()
    run = wrk(system.url + system.generate_path, lua, connections, seconds)
    return {**run, **meter.stop(system.name, system.upstream)}


def _combine(runs: list[dict]) -> dict:
    """Medians of the rounds for rate and latency; CPU per request over all of them; the busiest round's load
    of the fake and the client (neither may limit any run); the machine's share over all rounds (a second of
    a neighbour's burst moves one round's pair, which the paired median shrugs off)."""
    requests = sum(r["requests"] for r in runs)
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "requests": requests,
        "errors": sum(r["errors"] for r in runs),
        "cpu_ms_per_request": sum(r["cpu_s"] for r in runs) / requests * 1000,
        "fake_cpu_ms_per_request": sum(r["fake_cpu_s"] for r in runs) / requests * 1000,
        **{f"{name}_cpu_ms_per_request": sum(r[f"{name}_cpu_s"] for r in runs) / requests * 1000 for name in SIDECARS},
        **{key: max(r[key] for r in runs) for key in HARNESS},
        **{key: statistics.mean(r[key] for r in runs) for key in MACHINE},
        "rounds": runs,
    }


def s2(lineup: Lineup, count: int) -> dict[str, dict]:
    """One stream at a time, 20 events 20 ms apart; systems take turns stream by stream."""
    payload = body(S2_EVENTS, S2_INTERVAL_MS)
    for system in lineup.systems:
        stream(system.port, system.stream_path, payload, S2_EVENTS)
    results: dict[str, list] = defaultdict(list)
    meter = lineup.meter()
    for _ in range(count):
        for system in lineup.systems:
            results[system.name].append(stream(system.port, system.stream_path, payload, S2_EVENTS))
    load = {key: value for key, value in meter.stop("direct").items() if key in BUSY}
    return {name: {**summary(streams), **load} for name, streams in results.items()}


def s3(lineup: Lineup, levels: list[int], events: int, rate: float) -> dict[str, dict]:
    """Many slow streams at once (events a second apart, opened `rate` a second): errors, delays, memory."""
    payload, results = body(events, S3_INTERVAL_MS), {}
    for level in levels:
        for system in lineup.systems:
            results[f"{system.name}/{level}"] = _slow_streams(lineup, system, payload, events, level, rate)
            gevent.sleep(1)  # let closed connections drain before the next system
    return results


def _slow_streams(lineup: Lineup, system: System, payload: str, events: int, count: int, rate: float) -> dict:
    """`count` concurrent streams on one system, with its peak memory and everyone's CPU while they ran."""
    meter = lineup.meter()
    peak = [system.tree.rss_mib()]
    sampler = gevent.spawn(_sample_rss, system.tree, peak)
    streams = many(system.port, system.stream_path, payload, events, count, rate, limit=events + 30)
    sampler.kill()
    return {**summary(streams), "rss_before_mib": peak[0], "peak_rss_mib": max(peak), **meter.stop(system.name)}


S6_SECONDS, S6_EVENTS = 10, 10  # the streams arrive over 10 s; each sends 10 events 1 s apart
S6_BARE_STREAMS = 2000  # the bare relay's reference: what it holds without waiting on connection slots


def s6(lineup: Lineup, count: int) -> dict[str, dict]:
    """A host's worth of streams on the gateway (issue 31); the bare relay at 2,000 as the yardstick, and at the
    gateway's count as the ceiling of the stack itself (gunicorn, gevent, Flask, requests on these cores)."""
    payload = body(S6_EVENTS, S3_INTERVAL_MS)
    bare = lineup.named("bare")
    runs = [(bare, n) for n in sorted({min(count, S6_BARE_STREAMS), count})] + [(lineup.named("gateway"), count)]
    results = {}
    for system, streams in runs:
        gevent.sleep(1)  # let the previous run's closed connections drain
        results[f"{system.name}/{streams}"] = _slow_streams(
            lineup, system, payload, S6_EVENTS, streams, streams / S6_SECONDS
        )
    return results


def s1_redis(lineup: Lineup, seconds: float, rounds: int) -> dict[str, dict]:
    """S1 on the gateway in SQLite mode and in Redis mode (a real redis-server), rounds alternating."""
    return s1(lineup, seconds, rounds, [lineup.named("gateway"), lineup.named("gateway-redis")])


def s1_proxy(lineup: Lineup, seconds: float, rounds: int) -> dict:
    """S1 over HTTPS on a gateway reaching the fake directly and on one with every account behind tinyproxy,
    rounds alternating; with the CONNECTs tinyproxy logged (one per pooled connection if tunnels are reused)."""
    before = _connects(lineup)  # the probes' at start
    runs = s1(lineup, seconds, rounds, [lineup.named("gateway-tls"), lineup.named("gateway-proxy")])
    proxied = sum(v["requests"] for key, v in runs.items() if key.startswith("gateway-proxy/"))
    return {"runs": runs, "connects": _connects(lineup) - before, "proxied_requests": proxied}


def _connects(lineup: Lineup) -> int:
    """CONNECT requests in tinyproxy's log so far."""
    return sum(1 for line in lineup.proxy.requests() if line.startswith("CONNECT "))


def _sample_rss(tree: Tree, peak: list[float], every: float = 0.2) -> None:
    """Append the tree's memory to `peak` every `every` seconds until killed."""
    while True:
        gevent.sleep(every)
        peak.append(tree.rss_mib())


S4_SIZES_MB = (1, 5, 18)
S4_STREAMS, S4_EVENTS = 200, 80  # 8 s of events 100 ms apart
S5_SIZES_MB, S5_EVENTS = (2, 4, 8), 4


def s4(lineup: Lineup, repeats: int) -> dict[str, dict]:
    """Big generateContent bodies: alone (latency, CPU per MB), then arriving twice a second among streams."""
    bodies = {size: big.big_body(size) for size in S4_SIZES_MB}
    megabytes = sum(len(b) for b in bodies.values()) / big.MB * repeats
    results = {}
    for system in lineup.systems:
        big.sequential(system.port, system.generate_path, {1: bodies[1]}, 1)  # warm-up
        meter = lineup.meter()
        alone = big.sequential(system.port, system.generate_path, bodies, repeats)
        cpu = meter.stop(system.name)
        meter, peak = lineup.meter(), [system.tree.rss_mib()]
        sampler = gevent.spawn(_sample_rss, system.tree, peak, 0.05)
        streams, among = big.streams_among_big(
            system.port, system.stream_path, system.generate_path, bodies, S4_STREAMS, S4_EVENTS
        )
        sampler.kill()
        results[system.name] = {
            **streams,
            "errors": streams["errors"] + sum(1 for p in alone + among if p.error),
            "big_latency_ms": big.latencies(alone),
            "big_latency_among_streams_ms": big.latencies(among),
            "cpu_ms_per_mb": cpu["cpu_s"] / megabytes * 1000,
            "peak_rss_mib": max(peak),
            **{key: value for key, value in meter.stop(system.name).items() if key in BUSY},
        }
        gevent.sleep(1)
    return results


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def s4_files(lineup: Lineup, repeats: int) -> dict:
    """S4f, the gateway alone: the same bytes sent inline (base64 in the body) and as an uploaded file (fileData,
    inlined by the gateway), one request at a time: latency, CPU per request, a worker's peak memory growth."""
    system = lineup.named("gateway")
    files = {size: os.urandom(int(size * big.MB)) for size in big.FILE_SIZES_MB}
    uploaded = {size: big.upload_file(system.port, data, "application/pdf") for size, data in files.items()}
    variants = {
        "inline": {
            s: big.media_body({"inlineData": {"mimeType": "application/pdf", "data": b64(d)}}) for s, d in files.items()
        },
        "file": {s: big.media_body({"fileData": {"fileUri": uploaded[s][0]}}) for s in files},
    }
    results: dict = {"upload_ms": {f"{s:g}": seconds * 1000 for s, (_, seconds) in uploaded.items()}}
    for name, bodies in variants.items():
        big.sequential(system.port, system.generate_path, {1: bodies[1]}, 1)  # warm-up
        workers = system.tree.refresh()[1:]  # the master forwards nothing
        before, meter = big.reset_peaks(workers), lineup.meter()
        posted = big.sequential(system.port, system.generate_path, bodies, repeats)
        results[name] = {
            "latency_ms": big.latencies(posted),
            "cpu_ms_per_request": meter.stop(system.name)["cpu_s"] / len(posted) * 1000,
            "worker_peak_growth_mib": big.peak_growth_mib(workers, before),
            "body_mb": {f"{s:g}": len(b) / big.MB for s, b in bodies.items()},
            "errors": sum(1 for p in posted if p.error),
        }
    return results


def s5(lineup: Lineup) -> dict[str, dict]:
    """An image model's stream: events of 2, 4 and 8 MB of inline base64, 200 ms apart."""
    results = {}
    for system in lineup.systems:
        big.image_stream(system.port, system.stream_path, 1, 1)  # warm-up
        meter, sizes = lineup.meter(), {}
        for size in S5_SIZES_MB:
            sizes[f"{size:g}"] = big.image_stream(system.port, system.stream_path, size, S5_EVENTS)
        cpu = meter.stop(system.name)
        results[system.name] = {
            "sizes": sizes,
            "errors": sum(1 for r in sizes.values() if r["error"]),
            "cpu_ms_per_mb": cpu["cpu_s"] / sum(r["mb"] for r in sizes.values()) * 1000,
            **{key: value for key, value in cpu.items() if key in BUSY},
        }
    return results
