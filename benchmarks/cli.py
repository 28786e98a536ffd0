"""``digits-bench``: the comparison table of every model variant, runtime and thread count.

Results (bench.md, or bench.json with ``--json``) go to stdout; progress and logs to stderr.
Exit codes: 0 the run completed (rows that failed are in the table), 2 bad input (no run
directory, MNIST missing, unwritable output), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from edge_app.cliparts import (
    HelpFormatter,
    add_verbosity,
    did_you_mean,
    number,
    positive_int,
    run_main,
)

log = logging.getLogger(__name__)

PROG = "digits-bench"

DEFAULT_RUN_DIR = Path("runs/latest")


def _threads(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a comma-separated list of integers"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("thread counts must be integers >= 1, e.g. 1,2")
    return tuple(dict.fromkeys(values))


def _seconds(text: str) -> float:
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-bench`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Benchmark every model variant of a run: accuracy, agreement with Keras, size,\n"
            "latency, throughput, load time and memory, per runtime and thread count; the\n"
            "end-to-end frame time; MACs against this CPU's peak. Writes bench.json, bench.md\n"
            "and plots into the run directory and prints bench.md (or --json) on stdout."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "run_dir", nargs="?", type=Path, default=DEFAULT_RUN_DIR, metavar="RUN_DIR",
        help="run directory holding model.keras and model_<format>.tflite files",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=_threads, default="1,2", metavar="N[,N...]",
        help="interpreter thread counts to measure each model at",
    )  # fmt: skip
    parser.add_argument(
        "--runtimes", default=None, metavar="NAMES",
        help="TFLite runtimes, comma-separated (litert, tflite-runtime, tensorflow); "
        "default: every one installed",
    )  # fmt: skip
    parser.add_argument(
        "--peers", action="store_true",
        help="also run the float model in ONNX Runtime and OpenCV DNN (exports model.onnx)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print bench.json instead of bench.md")
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR",
        help="where MNIST is looked for first (then $DIGITS_DATA_DIR, then the Keras cache)",
    )  # fmt: skip
    parser.add_argument(
        "--limit", type=positive_int, default=None, metavar="N",
        help="use only the first N test images (default: the full test set)",
    )  # fmt: skip
    parser.add_argument(
        "--max-seconds", type=_seconds, default=1.5, metavar="S",
        help="time budget of one latency measurement block (3 blocks, the best is kept) "
        "before it stops unstable",
    )  # fmt: skip
    parser.add_argument(
        "--no-e2e", dest="end_to_end", action="store_false",
        help="skip the 640x480 frame end-to-end measurement (run by default)",
    )  # fmt: skip
    parser.add_argument(
        "--no-plots", dest="plots", action="store_false",
        help="skip the figures (written by default)",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=positive_int, default=1, metavar="N",
        help="run each row in N fresh worker processes and keep the fastest",
    )  # fmt: skip
    parser.add_argument(
        "--in-process", action="store_true",
        help="run every row inside this process (faster start; no per-row memory figure)",
    )  # fmt: skip
    add_verbosity(parser, verbose="debug logging, including every worker's stderr")
    return parser


def _runtimes(parser: argparse.ArgumentParser, text: str | None) -> tuple[str, ...] | None:
    from edge_app.runtime import RUNTIME_NAMES

    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in RUNTIME_NAMES:
            parser.error(
                f"unknown runtime '{name}' (choose from {', '.join(RUNTIME_NAMES)})"
                f"{did_you_mean(name, RUNTIME_NAMES)}"
            )
    if not names:
        parser.error(f"--runtimes is empty; choose from {', '.join(RUNTIME_NAMES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run ``digits-bench``; returns the exit code."""
    parser = build_parser()
    return run_main(PROG, parser, argv, lambda args: _bench(parser, args))


def _bench(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    runtimes = _runtimes(parser, args.runtimes)

    from benchmarks.bench import BenchConfig, run_bench
    from benchmarks.report import render_markdown, write_outputs

    config = BenchConfig(
        run_dir=args.run_dir,
        threads=args.threads,
        runtimes=runtimes,
        peers=args.peers,
        data_dir=args.data_dir,
        limit=args.limit,
        isolate=not args.in_process,
        end_to_end=args.end_to_end,
        plots=args.plots,
        processes=args.processes,
    )
    budget = args.max_seconds
    policy = replace(
        config.policy, max_time_s=budget, min_time_s=min(config.policy.min_time_s, budget)
    )
    config = replace(config, policy=policy)
    doc = run_bench(config)
    written = write_outputs(doc, Path(doc["run_path"]), plots=config.plots)
    log.info("wrote %s", ", ".join(str(p) for p in written))
    sys.stdout.write(json.dumps(doc, indent=2) + "\n" if args.json else render_markdown(doc))
    return 0
