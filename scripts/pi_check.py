"""``make pi-check``: the Raspberry Pi path, run as a user's 64-bit Pi would, under emulation.

Builds (once, cached) an emulated 64-bit Raspberry Pi OS: Debian bookworm's arm64 Python 3.11
under qemu's user-mode emulator, then installs the project's ``edge`` extra for aarch64 in each
set-up a Pi user may have (LiteRT with numpy 2; the numpy<2 + opencv<4.12 venv of the README's
picamera2 steps; the tflite-runtime 2.14 fallback), installs the project itself from a wheel
built from this tree, and runs ``digits-predict --json`` on photos the project makes, on several
emulated CPUs. The same versions are installed for x86_64 and run natively on the same files;
digits, boxes and confidences are compared file by file. The set-ups and the environments
built for them are :mod:`pi_setups`; this module runs, compares and reports.

Prints a table and one verdict line; exits 0 when every aarch64 run read the same digits as
x86_64, 1 when one did not (or, with ``--strict``, when boxes or int8 confidences differ), 2
when the environment could not be built or a run failed. Needs Linux x86_64 with apt-get and
dpkg-deb, and network access to the package registries (only for what is not cached yet).

    python scripts/pi_check.py [--cpus cortex-a72,cortex-a53,cortex-a76] [--photos 120] [-v]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

# pi_env & co. live beside this file; the photo generator is the project's own
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import pi_env  # noqa: E402
from pi_compare import Agreement, compare, parse_jsonl, verdict  # noqa: E402
from pi_photos import PhotoError, make_photos  # noqa: E402
from pi_setups import REPO, SETUP_NAMES, SETUPS, prepare, shipped_models  # noqa: E402

log = logging.getLogger("pi-check")

PROG = "pi-check"
EXIT_PASS, EXIT_DIFFER, EXIT_ERROR = 0, 1, 2
RUN_TIMEOUT_S = 1800
DEFAULT_CPUS = ("cortex-a72", "cortex-a53", "cortex-a76")  # Pi 4, Pi 3, Pi 5
INTEGER_FORMATS = ("int8", "uint8")  # models whose outputs must match bit for bit


@dataclass(frozen=True)
class CheckConfig:
    """What ``pi-check`` was asked to do."""

    setups: tuple[str, ...] = SETUP_NAMES
    cpus: tuple[str, ...] = DEFAULT_CPUS
    photos: int = 120
    seed: int = 13
    jobs: int = 2
    out: Path = REPO / "runs" / "pi-check"
    cache: Path = pi_env.default_cache_dir()
    apt_mirror: str | None = None
    qemu: Path | None = None
    refresh: bool = False
    strict: bool = False
    full: bool = False


@dataclass(frozen=True)
class Job:
    """One digits-predict run: a set-up, a model, and an emulated CPU (None: x86_64)."""

    setup: str
    model: str  # shipped format, e.g. "int8"
    cpu: str | None

    @property
    def label(self) -> str:
        return f"{self.setup}/{self.model}/{self.cpu or 'x86_64'}"


def strictly_same(job: Job, agreement: Agreement) -> bool:
    """What ``--strict`` asks: same boxes, and same confidences where the model is integer-only.

    A float model's last digits depend on how each CPU rounds (fused multiply-add, summation
    order), so its confidences are compared and reported but cannot be required to match.
    """
    if job.model in INTEGER_FORMATS:
        return agreement.identical
    return agreement.boxes_identical


def jobs_for(cfg: CheckConfig, models: list[str]) -> list[Job]:
    """The runs to make, each aarch64 one with its x86_64 reference.

    Default: every set-up with the default model (``models[0]``) on the first CPU, every other
    model with the first set-up, the other CPUs with the first set-up's default model. With
    ``cfg.full``: every set-up x model x CPU.
    """
    first_cpu = cfg.cpus[0]
    wanted: list[tuple[str, str, str]] = []
    for setup in cfg.setups:
        for model in models:
            for cpu in cfg.cpus:
                default = setup == cfg.setups[0] and (model == models[0] or cpu == first_cpu)
                if cfg.full or default or (model == models[0] and cpu == first_cpu):
                    wanted.append((setup, model, cpu))
    jobs: list[Job] = []
    for setup, model, cpu in sorted(wanted, key=lambda w: (w[2] != first_cpu,)):
        if Job(setup, model, None) not in jobs:
            jobs.append(Job(setup, model, None))
        jobs.append(Job(setup, model, cpu))
    return jobs


def run_job(
    job: Job,
    command: list[str],
    models: dict[str, str],
    photos: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
) -> dict:
    """Run digits-predict for ``job`` in ``cwd``; returns its parsed output, timing, exit code."""
    cmd = [*command, "-S", "-m", "edge_app", "--json"]
    if job.model != next(iter(models)):
        cmd += ["--model", models[job.model]]
    cmd += photos
    started = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    seconds = time.monotonic() - started
    stem = cwd / "runs" / job.label.replace("/", "_")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".jsonl").write_text(proc.stdout)
    stem.with_suffix(".log").write_text(proc.stderr)
    try:
        results = parse_jsonl(proc.stdout)
    except ValueError as exc:  # not digits-predict's output: report the run as failed
        log.error("%s printed something else than --json output: %s", job.label, exc)
        results = {}
    runtimes = sorted({r.get("runtime", "?") for r in results.values() if "error" not in r})
    latencies = sorted(r["latency_ms"] for r in results.values() if "latency_ms" in r)
    log.info(
        "%-32s %3d photos in %5.1f s (exit %d)", job.label, len(results), seconds, proc.returncode
    )
    return {
        "job": asdict(job),
        "label": job.label,
        "exit": proc.returncode,
        "seconds": round(seconds, 1),
        "results": results,
        "runtimes": runtimes,
        "median_latency_ms": latencies[len(latencies) // 2] if latencies else None,
        "stderr_tail": proc.stderr.strip().splitlines()[-3:],
    }


def check(cfg: CheckConfig) -> int:
    """Build what is missing, run every job, compare, print the table and the verdict."""
    started = time.monotonic()
    out = cfg.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    setups = {s.name: s for s in SETUPS}
    envs = prepare(
        cfg.setups,
        out,
        cache=cfg.cache,
        apt_mirror=cfg.apt_mirror,
        qemu=cfg.qemu,
        refresh=cfg.refresh,
    )
    emu, env_info = envs.emulator, envs.info
    models = shipped_models(envs.project)
    truth, source = make_photos(out / "photos", cfg.photos, cfg.seed)
    photos = [f"photos/{name}" for name in sorted(truth)]
    log.info("%d photos (seed %d, %s) in %s", len(photos), cfg.seed, source, out / "photos")

    jobs = jobs_for(cfg, list(models))

    def launch(job: Job) -> dict:
        command, env = envs.python(job.cpu), envs.environ(job.setup, job.cpu)
        return run_job(job, command, models, photos, cwd=out, env=env)

    # emulated runs take ~20x longer: start them first so the native ones fill the gaps
    order = sorted(jobs, key=lambda j: j.cpu is None)
    with ThreadPoolExecutor(max_workers=cfg.jobs) as pool:
        done = {r["label"]: r for r in pool.map(launch, order)}

    rows, failures = [], []
    for job in jobs:
        result = done[job.label]
        expected = setups[job.setup].runtime
        if result["exit"] not in (0, 1) or not result["results"]:
            failures.append(
                f"{job.label}: exit {result['exit']}: {' / '.join(result['stderr_tail'])}"
            )
        elif result["runtimes"] != [expected]:
            failures.append(f"{job.label}: loaded {result['runtimes']}, expected {expected}")
        if job.cpu is None:
            continue
        reference = done[Job(job.setup, job.model, None).label]["results"]
        rows.append((job, compare(reference, result["results"])))
    table = format_table(rows, done, truth)
    print(table)
    ok, line = verdict((job.label, agreement) for job, agreement in rows)
    if failures:
        ok, line = False, f"ERROR: {len(failures)} run(s) failed: " + "; ".join(failures)
    strict_bad = cfg.strict and not all(strictly_same(job, a) for job, a in rows)
    elapsed = time.monotonic() - started
    report = {
        "verdict": line,
        "seconds": round(elapsed, 1),
        "emulator": asdict(emu) | {"suite": pi_env.SUITE},
        "photos": {"count": len(photos), "seed": cfg.seed, "glyphs": source},
        "models": models,
        "setups": env_info,
        "runs": {
            label: {k: v for k, v in r.items() if k != "results"} for label, r in done.items()
        },
        "comparisons": {job.label: asdict(a) for job, a in rows},
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "report.md").write_text(table + "\n\n" + line + "\n")
    for job, agreement in rows:
        for difference in agreement.differences[:5]:
            log.warning("%s: %s", job.label, difference)
    sizes = ", ".join(
        f"{n} {pi_env.mb(i['download_bytes'])} download, {pi_env.mb(i['installed_bytes'])} on disk"
        for n, i in env_info.items()
    )
    log.info("aarch64 installs: %s", sizes)
    log.info("report: %s (%.0f s in all)", out / "report.md", elapsed)
    print(f"pi-check: {line} ({elapsed:.0f} s)")
    if failures:
        return EXIT_ERROR
    return EXIT_PASS if ok and not strict_bad else EXIT_DIFFER


def format_table(rows: list[tuple[Job, Agreement]], done: dict[str, dict], truth: dict) -> str:
    """A markdown table: one row per aarch64 run, compared with x86_64 on the same set-up."""
    head = (
        "| set-up | model | CPU | runtime | digits = x86_64 | boxes = | confidences = "
        "| max Δconf | read right | run (s) |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for job, a in rows:
        r = done[job.label]
        right = sum(
            res.get("digits", "").replace(" ", "") == truth.get(Path(path).name)
            for path, res in r["results"].items()
        )
        lines.append(
            f"| {job.setup} | {job.model} | {job.cpu} | {','.join(r['runtimes'])} "
            f"| {a.digits_same}/{a.files} | {a.boxes_same}/{a.files} "
            f"| {a.confidences_same}/{a.files} | {a.max_confidence_diff:.4f} "
            f"| {right}/{len(truth)} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def _csv(choices: tuple[str, ...] | None):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x.strip() for x in text.split(",") if x.strip())
        if not items:
            raise argparse.ArgumentTypeError("give at least one")
        if choices is not None:
            for item in items:
                if item not in choices:
                    raise argparse.ArgumentTypeError(
                        f"unknown '{item}'; choose from {', '.join(choices)}"
                    )
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--setups",
        type=_csv(SETUP_NAMES),
        default=",".join(SETUP_NAMES),
        help="Pi set-ups to install and check: "
        + "; ".join(f"{s.name}: {s.about}" for s in SETUPS),
    )
    parser.add_argument(
        "--cpus",
        type=_csv(None),
        default=",".join(DEFAULT_CPUS),
        help="qemu -cpu models (cortex-a53 Pi 3, cortex-a72 Pi 4, cortex-a76 Pi 5, max: every "
        "feature qemu has); the first is the one every set-up runs on",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="every set-up x model x CPU (default: each set-up, each model and each CPU once, "
        "varying one at a time from the first set-up, default model and first CPU)",
    )
    parser.add_argument("--photos", type=int, default=120, help="photos to make and read")
    parser.add_argument("--seed", type=int, default=13, help="seed of the photos")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--out", type=Path, default=CheckConfig.out, help="photos, logs, report")
    parser.add_argument(
        "--cache",
        type=Path,
        default=pi_env.default_cache_dir(),
        help="the emulated Pi and its packages ($DIGITLITE_PI_CACHE, $XDG_CACHE_HOME)",
    )
    parser.add_argument(
        "--apt-mirror", metavar="URL", help="Debian mirror (default: the one this machine uses)"
    )
    parser.add_argument("--qemu", type=Path, metavar="FILE", help="a qemu-aarch64 >= 8 to use")
    parser.add_argument(
        "--refresh", action="store_true", help="reinstall the Pi's packages from today's index"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also when boxes differ, or confidences of an integer model (int8)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.photos < 1 or args.jobs < 1:
        parser.error("--photos and --jobs must be at least 1")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s pi-check: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    cfg = CheckConfig(
        setups=args.setups,
        cpus=args.cpus,
        photos=args.photos,
        seed=args.seed,
        jobs=args.jobs,
        out=args.out,
        cache=args.cache,
        apt_mirror=args.apt_mirror,
        qemu=args.qemu,
        refresh=args.refresh,
        strict=args.strict,
        full=args.full,
    )
    try:
        return check(cfg)
    except (pi_env.PiEnvError, PhotoError, subprocess.TimeoutExpired) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
