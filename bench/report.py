"""The printed report: one table per scenario, then the goals and the harness checks."""

from __future__ import annotations

import statistics

from .goals import Verdict, added, added_ms_per_mb, added_per_event, by_round

LOAD_HEADER = ["fake %", "loadgen %", "other %"]  # how busy each kept a core while the row was measured


def _load(row: dict) -> list[str]:
    """The fake's, the load generator's and everyone else's CPU during a measurement, in % of a core."""
    return [f"{row[key]:.0f}" for key in ("fake_busy_pct", "loadgen_busy_pct", "other_busy_pct")]


def _table(title: str, header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """Columns as wide as their widest cell; `align` is "l" or "r" per column (default: first l, others r)."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [title]
    for row in [header, *rows]:
        cells = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return [*lines, ""]


def s1_table(s1: dict) -> list[str]:
    """S1: rate, latency, CPU per request of the system and of the fake, and how busy everyone kept a core."""
    header = [
        "system/conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/req",
        "fake CPU ms/req",
        *LOAD_HEADER,
        "errors",
    ]
    rows = [
        [
            *_wrk_cells(key, v),
            f"{v['fake_cpu_ms_per_request']:.3f}",
            *_load(v),
            str(v["errors"]),
        ]
        for key, v in s1.items()
    ]
    title = "S1 non-stream generateContent (wrk; CPU from /proc; direct = the fake alone)"
    return [*_table(title, header, rows)[:-1], *_round_by_round(s1), ""]


def _round_by_round(s1: dict) -> list[str]:
    """How far apart the rounds were: the gateway's rate over the bare relay's in each round, as quartiles."""
    lines = []
    for c in (1, 32):
        ratios = by_round(s1[f"gateway/c{c}"], s1[f"bare/c{c}"], "rps")
        lines.append(_spread(f"gateway/bare req/s round by round, c={c}", ratios) + f" ({len(ratios)} rounds)")
    return lines


def _wrk_cells(key: str, v: dict) -> list[str]:
    """The cells every S1 row starts with: which run, its rate, latencies and the server's CPU per request."""
    return [key, f"{v['rps']:.0f}", f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}", f"{v['cpu_ms_per_request']:.3f}"]


def s2_table(s2: dict) -> list[str]:
    """S2: time to first event and per-event delay, absolute and added to the fake's own."""
    header = ["system", "first event p50 ms", "added ms", "event delay p50 ms", "added ms", "p99 ms", "errors"]
    rows = [
        [
            name,
            f"{v['first_event_p50_ms']:.2f}",
            f"{added(s2, name, 'first_event_p50_ms'):.2f}",
            f"{v['event_delay_p50_ms']:.2f}",
            f"{added(s2, name, 'event_delay_p50_ms'):.2f}",
            f"{v['event_delay_p99_ms']:.2f}",
            str(v["errors"]),
        ]
        for name, v in s2.items()
    ]
    return _table("S2 streamGenerateContent?alt=sse, 20 events 20 ms apart, one stream at a time", header, rows)


def s3_table(s3: dict, events: int, rate: float) -> list[str]:
    return streams_table(f"S3 concurrent slow streams ({events} events 1 s apart, opened {rate:g}/s)", s3)


def s6_table(s6: dict) -> list[str]:
    return streams_table("S6 a host's worth of streams (10 events 1 s apart, all opened over 10 s)", s6)


def streams_table(title: str, results: dict) -> list[str]:
    """Errors, first-event and per-event p99, memory, and how busy the fake and the client were."""
    header = [
        "system/streams",
        "errors",
        "first p99 ms",
        "delay p50 ms",
        "delay p99 ms",
        "peak RSS MiB",
        *LOAD_HEADER,
    ]
    rows = [
        [
            key,
            str(v["errors"]),
            f"{v['first_event_p99_ms']:.1f}",
            f"{v['event_delay_p50_ms']:.2f}",
            f"{v['event_delay_p99_ms']:.1f}",
            f"{v['peak_rss_mib']:.0f}",
            *_load(v),
        ]
        for key, v in results.items()
    ]
    return _table(title, header, rows)


def verdict_table(title: str, verdicts: list[Verdict]) -> list[str]:
    """PASS/MISS, what, measured, target."""
    rows = [["PASS" if v.passed else "MISS", v.name, f"{v.value:.2f}", v.target] for v in verdicts]
    return _table(title, ["", "", "measured", "target"], rows, align="llrl")


def s4_table(s4: dict) -> list[str]:
    """S4: big requests alone and among 200 streams: latency by size, CPU per MB, the streams' delays, memory."""
    sizes = list(s4["direct"]["big_latency_ms"])
    header = ["system", *[f"{s} MB ms" for s in sizes], "added ms/MB", "CPU ms/MB"]
    header += ["streams delay p99 ms", "max ms", "big ms among streams", "peak RSS MiB", "errors"]
    rows = [
        [
            name,
            *[f"{v['big_latency_ms'][s]:.0f}" for s in sizes],
            f"{added_ms_per_mb(s4, name):.2f}",
            f"{v['cpu_ms_per_mb']:.2f}",
            f"{v['event_delay_p99_ms']:.1f}",
            f"{v['event_delay_max_ms']:.1f}",
            " / ".join(f"{ms:.0f}" for ms in v["big_latency_among_streams_ms"].values()),
            f"{v['peak_rss_mib']:.0f}",
            str(v["errors"]),
        ]
        for name, v in s4.items()
    ]
    title = "S4 big generateContent bodies (1, 5, 18 MB: text + inline images), alone and among 200 SSE streams"
    return _table(title, header, rows)


def s4_files_table(s4f: dict) -> list[str]:
    """S4f: the same media inline and as an uploaded file: latency by size, CPU per request, worker memory."""
    sizes = list(s4f["inline"]["latency_ms"])
    header = ["variant", *[f"{s} MB ms" for s in sizes], "body MB", "CPU ms/request", "worker peak +MiB", "errors"]
    rows = [
        [
            name,
            *[f"{v['latency_ms'][s]:.0f}" for s in sizes],
            " / ".join(f"{mb:.2f}" for mb in v["body_mb"].values()),
            f"{v['cpu_ms_per_request']:.1f}",
            f"{v['worker_peak_growth_mib']:.0f}",
            str(v["errors"]),
        ]
        for name, v in s4f.items()
        if name != "upload_ms"
    ]
    rows.append(["upload (once)", *[f"{s4f['upload_ms'][s]:.0f}" for s in sizes], "", "", "", ""])
    return _table(
        "S4f the gateway: media sent inline vs uploaded once and named by fileData (1, 5, 14 MB)", header, rows
    )


def s5_table(s5: dict) -> list[str]:
    """S5: per-event delay of multi-MB image events, absolute and added to the fake's own; CPU per MB."""
    sizes = list(s5["direct"]["sizes"])
    header = ["system", *[f"{s} MB event ms" for s in sizes], "added ms per 8 MB event", "CPU ms/MB", "errors"]
    rows = [
        [
            name,
            *[f"{v['sizes'][s]['event_delay_p50_ms']:.1f}" for s in sizes],
            f"{added_per_event(s5, name):.1f}",
            f"{v['cpu_ms_per_mb']:.2f}",
            str(v["errors"]),
        ]
        for name, v in s5.items()
    ]
    return _table("S5 image-model stream: events of 2, 4 and 8 MB of inline base64", header, rows)


def s1_redis_table(s1r: dict) -> list[str]:
    """S1 in SQLite and Redis mode: rate, CPU per request of the gateway and of redis-server."""
    return _pair_table("S1 with the pool state in Redis (GATEWAY_STATE_URL) vs SQLite", s1r, "redis", "redis-server")


def _pair_table(title: str, runs: dict, sidecar: str, sidecar_name: str) -> list[str]:
    """Two gateways under S1: rate, latency, CPU per request of each, of the sidecar beside it and of the fake."""
    header = ["system/conns", "req/s", "p50 ms", "p99 ms", "CPU ms/req", f"{sidecar_name} CPU ms/req"]
    header += ["fake CPU ms/req", *LOAD_HEADER, "errors"]
    rows = [
        [
            *_wrk_cells(key, v),
            f"{v[f'{sidecar}_cpu_ms_per_request']:.3f}",
            f"{v['fake_cpu_ms_per_request']:.3f}",
            *_load(v),
            str(v["errors"]),
        ]
        for key, v in runs.items()
    ]
    return _table(title, header, rows)


def s1_proxy_table(s1p: dict) -> list[str]:
    """S1 over HTTPS, direct and with every account behind tinyproxy: the table, the ratios, the tunnels."""
    runs = s1p["runs"]
    title = "S1P S1 over HTTPS: every account direct (gateway-tls) vs behind tinyproxy (gateway-proxy)"
    lines = _pair_table(title, runs, "tinyproxy", "tinyproxy")[:-1]
    for c in (1, 32):
        proxied, direct = runs[f"gateway-proxy/c{c}"], runs[f"gateway-tls/c{c}"]
        cpu = proxied["cpu_ms_per_request"] / direct["cpu_ms_per_request"]
        both = (proxied["cpu_ms_per_request"] + proxied["tinyproxy_cpu_ms_per_request"]) / direct["cpu_ms_per_request"]
        lines.append(f"c={c}: gateway CPU per request behind the proxy {cpu:.3f}x direct ({both:.3f}x with tinyproxy)")
        lines.append(_spread(f"proxy/direct req/s round by round, c={c}", by_round(proxied, direct, "rps")))
        lines.append(_spread(f"proxy/direct CPU per request round by round, c={c}", _cpu_by_round(proxied, direct)))
    lines.append(
        f"tinyproxy CONNECTs: {s1p['connects']} for {s1p['proxied_requests']} proxied requests (warm-up included)"
    )
    return [*lines, ""]


def _cpu_by_round(a: dict, b: dict) -> list[float]:
    """a's CPU per request over b's in each round."""
    pairs = zip(a["rounds"], b["rounds"], strict=True)
    return [(x["cpu_s"] / x["requests"]) / (y["cpu_s"] / y["requests"]) for x, y in pairs]


def _spread(what: str, ratios: list[float]) -> str:
    """`what`: the median, middle half and range of `ratios`."""
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return f"{what}: median {median:.2f}, middle half {q1:.2f}-{q3:.2f}, all {min(ratios):.2f}-{max(ratios):.2f}"
