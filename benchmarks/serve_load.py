"""Load benchmark of ``digits-serve``: one client's latency, then many clients' throughput.

Starts its own server (``--workers N``, shipped int8 model unless ``--model``), makes 640x480
JPEG photos of digit strings (the project's photo generator on Hershey glyphs: no data set),
then measures, bounded in requests and time, and stops the server whatever happens:

1. **one client**: ``--single N`` sequential ``POST /v1/read`` on one keep-alive connection;
   round-trip median / p90 / p99, and the server's own ``latency_ms`` (vision + model);
2. **many clients**: ``--clients C`` connections sending back to back for ``--duration`` s (or
   ``--max-requests``): requests/s, latency percentiles, errors, the server's resident memory
   sampled every second (all its processes), server and load-generator CPU time. With
   ``--bad-fraction F`` that share of the requests are bad uploads (not an image, truncated,
   empty, wrong field, JSON, too many pixels, too large) that must get their 4xx, never a 5xx.

    python -m benchmarks.serve_load --workers 2 --clients 16 --duration 60
    python -m benchmarks.serve_load --workers 2 --clients 16 --duration 60 --bad-fraction 0.1

The client shares the machine's cores with the server, so on 2 cores the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.http_load import (
    Connection,
    Request,
    ServerProcess,
    build_request,
    cpu_seconds,
    multipart,
    rss_bytes,
)
from edge_app.cliparts import HelpFormatter, positive_int

log = logging.getLogger(__name__)

UPLOAD_LIMIT_MB = 1  # the server runs with this --max-upload-mb so a too-large body stays cheap


def _photo_maker(seed: int) -> Any:
    """The project's synthetic-photo generator, on Hershey glyphs (no data set needed)."""
    try:
        from trainer.synth.glyphs import hershey_glyphs
        from trainer.synth.scenes import SceneMaker as Maker
    except ImportError:  # before the generator moved from benchmarks to trainer.synth
        from benchmarks.photos import PhotoMaker as Maker
        from benchmarks.photos import hershey_glyphs
    return Maker(*hershey_glyphs(400, seed=seed), seed=seed)


def make_photos(count: int, seed: int) -> list[tuple[bytes, str]]:
    """``count`` 640x480 JPEGs (quality 90) of 3-6 digit strings, with the digits written."""
    import cv2

    maker = _photo_maker(seed)
    rng = np.random.default_rng(seed)
    photos = []
    for _ in range(count):
        photo = maker.string(int(rng.integers(3, 7)), size=(640, 480))
        ok, buf = cv2.imencode(".jpg", photo.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        photos.append((buf.tobytes(), photo.digits))
    return photos


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(99)))


def build_requests(photos: list[tuple[bytes, str]], token: str | None) -> dict[str, list[Request]]:
    """Good requests (raw JPEG bodies and multipart uploads) and one of each bad kind."""
    good = []
    for i, (jpeg, digits) in enumerate(photos):
        if i % 2:
            body, kind = multipart("image", f"photo{i}.jpg", jpeg)
        else:
            body, kind = jpeg, "image/jpeg"
        good.append(
            Request(build_request("/v1/read", body, kind, token=token), "good", 200, digits)
        )
    jpeg = photos[0][0]
    bad_bodies = {
        "not_an_image": (b"GET me a digit, please " * 20, "application/octet-stream", 422),
        "corrupt_image": (jpeg[: len(jpeg) // 3], "image/jpeg", 422),
        "empty_upload": (b"", "image/jpeg", 400),
        "missing_field": (*multipart("photo", "p.jpg", jpeg), 400),
        "unsupported_media_type": (b'{"image": "x"}', "application/json", 415),
        "image_too_large": (_png_header(20_000, 20_000), "image/png", 413),
        "upload_too_large": (bytes(UPLOAD_LIMIT_MB * 2**20 + 1), "image/jpeg", 413),
    }
    bad = [
        Request(build_request("/v1/read", body, kind, token=token), name, status)
        for name, (body, kind, status) in bad_bodies.items()
    ]
    return {"good": good, "bad": bad}


def _percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    if not values_ms:
        return {}
    a = np.asarray(values_ms)
    return {
        "median": round(float(np.median(a)), 2),
        "p90": round(float(np.percentile(a, 90)), 2),
        "p99": round(float(np.percentile(a, 99)), 2),
        "max": round(float(a.max()), 2),
        "count": len(a),
    }


async def one_client(host: str, port: int, requests: list[Request], count: int) -> dict[str, Any]:
    """``count`` sequential reads on one connection: round trip and the server's latency_ms."""
    conn = Connection(host, port)
    wall, server, statuses = [], [], Counter()
    try:
        for i in range(count):
            req = requests[i % len(requests)]
            start = time.perf_counter()
            response = await conn.send(req.raw)
            wall.append((time.perf_counter() - start) * 1000.0)
            statuses[response.status] += 1
            if response.status == 200:
                server.append(json.loads(response.body)["latency_ms"])
    finally:
        await conn.close()
    return {
        "round_trip_ms": _percentiles(wall),
        "server_latency_ms": _percentiles(server),
        "statuses": dict(statuses),
    }


async def many_clients(
    host: str,
    port: int,
    requests: dict[str, list[Request]],
    *,
    clients: int,
    duration: float,
    max_requests: int,
    bad_fraction: float,
    server: ServerProcess,
    seed: int,
) -> dict[str, Any]:
    """``clients`` connections back to back until ``duration`` s or ``max_requests`` are done."""
    pids = server.pids()
    started = time.perf_counter()
    stop_at = started + duration
    sent = 0
    latencies: list[float] = []
    by_kind: Counter[tuple[str, int]] = Counter()
    wrong: Counter[str] = Counter()
    transport_errors: Counter[str] = Counter()
    read_right = read_total = 0
    memory: list[tuple[float, int]] = []
    cpu_start = {pid: cpu_seconds([pid]) for pid in pids}
    own_start = os.times()

    async def client(index: int) -> None:
        nonlocal sent, read_right, read_total
        conn = Connection(host, port)
        local = np.random.default_rng(seed + index)
        try:
            while time.perf_counter() < stop_at and sent < max_requests:
                sent += 1
                if local.random() < bad_fraction:
                    req = requests["bad"][int(local.integers(len(requests["bad"])))]
                else:
                    req = requests["good"][int(local.integers(len(requests["good"])))]
                t0 = time.perf_counter()
                try:
                    response = await conn.send(req.raw)
                except (OSError, ValueError) as exc:
                    transport_errors[type(exc).__name__] += 1
                    await conn.close()
                    continue
                if req.kind == "good":
                    latencies.append((time.perf_counter() - t0) * 1000.0)
                by_kind[req.kind, response.status] += 1
                if response.status != req.expect_status:
                    wrong[f"{req.kind}->{response.status}"] += 1
                elif req.truth is not None:
                    read_total += 1
                    read_right += json.loads(response.body)["digits"] == req.truth
        finally:
            await conn.close()

    async def sample_memory() -> None:
        while time.perf_counter() < stop_at and sent < max_requests:
            memory.append((round(time.perf_counter() - started, 1), rss_bytes(pids)))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_memory())
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    sampler.cancel()
    memory.append((round(elapsed, 1), rss_bytes(pids)))
    own = os.times()
    cpu_by_pid = {pid: round(cpu_seconds([pid]) - cpu_start[pid], 2) for pid in pids}
    server_cpu = sum(cpu_by_pid.values())
    total = sum(by_kind.values())
    five_xx = sum(n for (_, status), n in by_kind.items() if status >= 500)
    mem_mb = [m / 2**20 for _, m in memory]
    slope = float(np.polyfit([t for t, _ in memory], mem_mb, 1)[0] * 60) if len(memory) > 2 else 0.0
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "good_per_s": round(len(latencies) / elapsed, 1),
        "good_latency_ms": _percentiles(latencies),
        "statuses": {f"{kind} {status}": n for (kind, status), n in sorted(by_kind.items())},
        "unexpected_status": dict(wrong),
        "transport_errors": dict(transport_errors),
        "errors": sum(wrong.values()) + sum(transport_errors.values()),
        "status_5xx": five_xx,
        "read_exactly": round(read_right / read_total, 4) if read_total else None,
        "memory_mb": {
            "samples": [[t, round(m / 2**20, 1)] for t, m in memory],
            "first": round(mem_mb[0], 1),
            "last": round(mem_mb[-1], 1),
            "max": round(max(mem_mb), 1),
            "slope_mb_per_min": round(slope, 2),
        },
        "cpu_s": {
            "server": round(server_cpu, 2),
            "load_generator": round(
                (own.user - own_start.user) + (own.system - own_start.system), 2
            ),
            "server_ms_per_request": round(server_cpu * 1000 / max(total, 1), 2),
            "server_by_process": {str(pid): s for pid, s in cpu_by_pid.items()},
        },
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve_load",
        description="Load-test a digits-serve it starts itself; stops by itself.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="server processes")
    parser.add_argument("--clients", type=positive_int, default=16, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--max-requests", type=positive_int, default=200_000, help="load bound")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds of load not counted (memory settles within ~5 s of the first requests)",
    )
    parser.add_argument("--single", type=positive_int, default=300, help="one-client requests")
    parser.add_argument("--bad-fraction", type=float, default=0.0, help="share of bad uploads")
    parser.add_argument("--photos", type=positive_int, default=40, help="distinct photos sent")
    parser.add_argument("--seed", type=int, default=1, help="photo and mix seed")
    parser.add_argument("--model", type=Path, help="a .tflite (default: the shipped int8)")
    parser.add_argument("--token", help="run the server with --token (and send it)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here too")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, measure, stop it; the results as a dict."""
    from benchmarks.sysinfo import cpu_info, load_average

    photos = make_photos(args.photos, args.seed)
    requests = build_requests(photos, args.token)
    server_args = ["--workers", str(args.workers), "--max-upload-mb", str(UPLOAD_LIMIT_MB)]
    if args.model:
        server_args += ["--model", str(args.model)]
    if args.token:
        server_args += ["--token", args.token]
    result: dict[str, Any] = {
        "cpu": cpu_info().get("model"),
        "cores": os.cpu_count(),
        "load_before": load_average(),
        "photo_kb": round(float(np.mean([len(p) for p, _ in photos])) / 1024, 1),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    with ServerProcess(server_args) as server:
        host, port = "127.0.0.1", server.port
        log.info("server up at %s (pids %s)", server.url, server.pids())
        result["single_client"] = asyncio.run(one_client(host, port, requests["good"], args.single))
        load = {
            "clients": args.clients,
            "max_requests": args.max_requests,
            "bad_fraction": args.bad_fraction,
            "server": server,
        }
        if args.warmup > 0:
            asyncio.run(
                many_clients(
                    host, port, requests, duration=args.warmup, seed=args.seed + 99, **load
                )
            )
        result["many_clients"] = asyncio.run(
            many_clients(host, port, requests, duration=args.duration, seed=args.seed, **load)
        )
        result["server_alive"] = server.proc is not None and server.proc.poll() is None
    result["load_after"] = load_average()
    return result


def summary(result: dict[str, Any]) -> str:
    single, many = result["single_client"], result["many_clients"]
    mem = many["memory_mb"]
    return "\n".join(
        [
            f"cpu: {result['cpu']} x{result['cores']}, load {result['load_before']} -> "
            f"{result['load_after']}; photos 640x480 JPEG ~{result['photo_kb']} KB",
            f"one client: round trip median {single['round_trip_ms']['median']} ms, "
            f"p99 {single['round_trip_ms']['p99']} ms (server latency_ms median "
            f"{single['server_latency_ms'].get('median')})",
            f"{many['clients']} clients x {many['seconds']} s: {many['requests_per_s']} req/s "
            f"({many['good_per_s']} good), "
            f"good p50 {many['good_latency_ms'].get('median')} ms, "
            f"p99 {many['good_latency_ms'].get('p99')} ms; errors {many['errors']}, "
            f"5xx {many['status_5xx']}; read exactly {many['read_exactly']}",
            f"memory MB: first {mem['first']}, last {mem['last']}, max {mem['max']}, "
            f"slope {mem['slope_mb_per_min']} MB/min; CPU s: server {many['cpu_s']['server']} "
            f"({many['cpu_s']['server_ms_per_request']} ms/request), load generator "
            f"{many['cpu_s']['load_generator']}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.bad_fraction <= 1.0:
        parser.error("--bad-fraction must be within 0..1")
    logging.basicConfig(level=logging.INFO, format="serve_load: %(message)s", stream=sys.stderr)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    print(summary(result), file=sys.stderr)
    return 0 if result["many_clients"]["status_5xx"] == 0 and result["server_alive"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
