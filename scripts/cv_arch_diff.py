"""Which OpenCV calls of the vision step give other results on aarch64 than on x86_64, and
whether their exact variants agree.

Runs ``cv_trace_probe.py`` (every ``cv2`` call ``digits-predict`` makes, traced) on the same
photos natively and on the emulated Pi that ``make pi-check`` builds, then lines the two traces
up call by call. A call whose inputs are identical on both but whose output is not is where a
difference is born (later calls that merely receive different inputs are only counted). For
those, the outputs are saved on both sides and measured, with those of the variants the probe
tries on the same input (``INTER_LINEAR_EXACT``, ``setUseOptimized(False)``, float32 numpy for
``divide``): a variant marked "same" gives identical results on both architectures.

    .venv/bin/python scripts/cv_arch_diff.py [--setups litert,picamera2] [--photos 30]

Reruns whatever vision code is in the tree; the cache is ``make pi-check``'s.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import pi_check  # noqa: E402
import pi_env  # noqa: E402
import pi_setups  # noqa: E402
from pi_compare import compare, parse_jsonl  # noqa: E402
from pi_photos import PhotoError, make_photos  # noqa: E402

log = logging.getLogger("cv-arch-diff")
PROBE = Path(__file__).resolve().parent / "cv_trace_probe.py"


@dataclass
class Group:
    """The calls of one kind: function, call site, input dtypes and interpolation."""

    fn: str
    site: str
    mode: str
    calls: int = 0
    same: int = 0
    born: int = 0  # same input, other output: a difference starts here
    inherited: int = 0  # the input already differed
    replayed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # per variant: largest |variant - original| on x86_64, i.e. what switching would change
    change: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def key(self) -> str:
        return f"{self.fn} {self.site} {self.mode}"


def load(path: Path) -> dict[int, list[dict]]:
    """A probe trace, per photo, in call order."""
    photos: dict[int, list[dict]] = defaultdict(list)
    with open(path) as handle:
        for line in handle:
            record = json.loads(line)
            photos[record["photo"]].append(record)
    return photos


def line_up(x86: dict[int, list[dict]], arm: dict[int, list[dict]]) -> tuple[dict, list[str]]:
    """Compare two traces call by call; per photo, stop where the calls made stop matching."""
    groups: dict[str, Group] = {}
    notes = []
    for photo in sorted(set(x86) | set(arm)):
        a, b = x86.get(photo, []), arm.get(photo, [])
        for i, (ra, rb) in enumerate(zip(a, b, strict=False)):
            if (ra["fn"], ra["site"]) != (rb["fn"], rb["site"]):
                notes.append(f"photo {photo}: the code took another path at call {i}")
                break
            g = Group(ra["fn"], ra["site"], ra["mode"])
            g = groups.setdefault(g.key, g)
            g.calls += 1
            if ra["in"] != rb["in"]:
                g.inherited += 1
            elif ra["out"] == rb["out"]:
                g.same += 1
            else:
                g.born += 1
        else:
            if len(a) != len(b):
                notes.append(f"photo {photo}: {len(a)} calls on x86_64, {len(b)} on aarch64")
    return groups, notes


def compare_replays(x86: Path, arm: Path, groups: dict[str, Group]) -> None:
    """Per replayed call and output (the call's own and each variant's): same, or how far off."""
    calls = {}
    for side in (x86, arm):
        with open(side / "replay.jsonl") as handle:
            for line in handle:
                call = json.loads(line)
                calls.setdefault(call["id"], []).append(call)
    for ident, sides in sorted(calls.items()):
        a, b = sides[0], sides[-1]
        group = groups.get(a["group"])
        if group is None:  # a call the aarch64 trace did not reach: still replayed
            fn, site_file, site_fn, *mode = a["group"].split(" ")
            group = groups.setdefault(
                a["group"], Group(fn, f"{site_file} {site_fn}", " ".join(mode))
            )
        for label, value in a["digests"].items():
            if label in a.get("errors", {}):
                result = "error: " + a["errors"][label].split(":")[-1].strip()[:50]
            elif len(sides) < 2 or label not in b["digests"]:
                result = "missing on aarch64"
            elif value == b["digests"][label]:
                result = "same"
            else:
                result = _measure(x86, arm, ident, label)
            group.replayed[label].append(result)
            if label != "out" and not result.startswith(("error", "missing")):
                group.change[label] = max(group.change[label], _change(x86, ident, label))


def _change(x86: Path, stem: str, label: str) -> float:
    """max |variant - original| of one replayed call on x86_64 (0.0 if not comparable)."""
    worst = 0.0
    for fv in sorted(x86.glob(f"{stem}-{label}-*.npy")):
        fo = x86 / fv.name.replace(f"-{label}-", "-out-")
        if fo.exists():
            a, b = np.load(fv), np.load(fo)
            if a.shape == b.shape:
                worst = max(worst, float(np.abs(a.astype(np.float64) - b).max(initial=0)))
    return worst


def _measure(x86: Path, arm: Path, stem: str, label: str) -> str:
    """How far two different outputs are apart: max |difference| and share of values."""
    parts = sorted(x86.glob(f"{stem}-{label}-*.npy"))
    if not parts:
        return "differs (not an array)"
    worst, share = 0.0, 0.0
    for fa in parts:
        xa, xb = np.load(fa), np.load(arm / fa.name)
        if xa.shape != xb.shape:
            return f"shape {xa.shape} vs {xb.shape}"
        diff = np.abs(xa.astype(np.float64) - xb.astype(np.float64))
        worst, share = max(worst, float(diff.max(initial=0))), max(share, float(np.mean(diff > 0)))
    return f"{worst:.3g} ({share:.1%})"


def probe(
    envs: pi_setups.Environments, setup: str, cpu: str | None, out: Path, args: list[str]
) -> dict:
    """Run cv_trace_probe.py with ``args`` on x86_64 (cpu None) or the emulated Pi."""
    cmd = [*envs.python(cpu), "-S", str(PROBE), *args]
    proc = subprocess.run(
        cmd, cwd=out, env=envs.environ(setup, cpu), capture_output=True, text=True
    )
    if proc.returncode != 0:
        where = cpu or "x86_64"
        raise pi_env.PiEnvError(f"the probe failed on {where}: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def diff_setup(
    envs: pi_setups.Environments, setup: str, cpu: str, photos: list[str], out: Path
) -> tuple[dict[str, Group], list[str]]:
    """Trace both architectures, line the traces up, replay saved inputs on both, measure."""
    arches = {"x86_64": None, "aarch64": cpu}
    inputs = out / f"inputs-{setup}"
    shutil.rmtree(inputs, ignore_errors=True)

    def trace(arch: str) -> dict:
        extra = ["--save-inputs", str(inputs)] if arch == "x86_64" else []
        args = ["--trace", str(out / f"trace-{setup}-{arch}.jsonl"), *extra, *photos]
        summary = probe(envs, setup, arches[arch], out, args)
        if summary["untraced"]:
            log.warning(
                "%s: cv2 functions bound by name, not traced: %s", arch, summary["untraced"]
            )
        log.info("%s %s: %d photos traced", setup, arch, summary["photos"])
        return summary

    def rerun(arch: str) -> dict:
        target = out / f"replay-{setup}-{arch}"
        shutil.rmtree(target, ignore_errors=True)
        return probe(
            envs, setup, arches[arch], out, ["--replay", str(inputs), "--out", str(target)]
        )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(trace, arches))
        replays = list(pool.map(rerun, arches))
    log.info("%s: %d calls replayed on both architectures", setup, replays[0]["replayed"])
    groups, notes = line_up(
        load(out / f"trace-{setup}-x86_64.jsonl"), load(out / f"trace-{setup}-aarch64.jsonl")
    )
    compare_replays(out / f"replay-{setup}-x86_64", out / f"replay-{setup}-aarch64", groups)
    return groups, notes


def try_portable(
    envs: pi_setups.Environments, setup: str, cpu: str, photos: list[str], out: Path
) -> str:
    """digits-predict with the portable variants patched in, on both architectures: agree?"""
    runs = {}
    for arch, where in (("x86_64", None), ("aarch64", cpu)):
        cmd = [*envs.python(where), "-S", str(PROBE), "--portable", *photos]
        proc = subprocess.run(
            cmd, cwd=out, env=envs.environ(setup, where), capture_output=True, text=True
        )
        if proc.returncode not in (0, 1):
            raise pi_env.PiEnvError(f"--portable failed on {arch}: {proc.stderr.strip()[-800:]}")
        runs[arch] = parse_jsonl(proc.stdout)
    plain = [*envs.python(None), "-S", "-m", "edge_app", "--json", "-q", *photos]
    proc = subprocess.run(
        plain, cwd=out, env=envs.environ(setup, None), capture_output=True, text=True
    )
    today = compare(parse_jsonl(proc.stdout), runs["x86_64"])
    across = compare(runs["x86_64"], runs["aarch64"])
    return (
        f"{setup}, portable variants patched in ({len(photos)} photos): aarch64 vs x86_64 digits "
        f"{across.digits_same}/{across.files}, boxes {across.boxes_same}/{across.files}, "
        f"confidences {across.confidences_same}/{across.files} identical (max difference "
        f"{across.max_confidence_diff:.4f}); against today's x86_64 code: digits "
        f"{today.digits_same}/{today.files}, boxes {today.boxes_same}/{today.files}, "
        f"confidences {today.confidences_same}/{today.files} identical"
    )


def _summary(results: list[str]) -> str:
    if not results:
        return ""
    same = sum(r == "same" for r in results)
    others = [r for r in results if r != "same"]
    if others and all(r.startswith("error") for r in others):
        return others[0]
    numeric = [r for r in others if r[:1].isdigit()]
    worst = max(numeric, key=lambda r: float(r.split()[0])) if numeric else (others or [""])[0]
    return f"{same}/{len(results)} same" + (f"; {worst}" if others else "")


def report(setup: str, versions: dict, groups: dict[str, Group], notes: list[str]) -> str:
    """Markdown: the kinds of call that differ first, then the rest."""
    labels = sorted({label for g in groups.values() for label in g.replayed} - {"out"})
    lines = [
        f"### {setup}: opencv-python-headless {versions.get('opencv-python-headless')}, "
        f"numpy {versions.get('numpy')}",
        "",
        "Traced: calls made by digits-predict (identical result / differs from an identical "
        "input / input already differed). Replayed: x86_64's inputs run on both; 'same' = "
        "identical bytes, else max |difference| (share of values that differ). 'x86 moves': "
        "how far the variant's result is from today's x86_64 result.",
        "",
        "| call | input, interpolation | site | traced | replayed | " + " | ".join(labels) + " |",
        "|---|---|---|---|---|" + "---|" * len(labels),
    ]

    def differs(g: Group) -> bool:
        return g.born > 0 or any(r != "same" for r in g.replayed.get("out", []))

    for g in sorted(groups.values(), key=lambda g: (not differs(g), g.site, g.fn)):
        traced = f"{g.same} / {g.born} / {g.inherited}"
        cells = [
            _summary(g.replayed.get(label, []))
            + (f"; x86 moves {g.change[label]:.3g}" if g.change.get(label) else "")
            for label in labels
        ]
        mark = "**" if differs(g) else ""
        lines.append(
            f"| {mark}`{g.fn}`{mark} | {g.mode} | {g.site} | {traced} "
            f"| {_summary(g.replayed.get('out', []))} | " + " | ".join(cells) + " |"
        )
    lines += [f"- note: {n}" for n in notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cv-arch-diff", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--setups",
        type=pi_check._csv(pi_setups.SETUP_NAMES),
        default="litert,picamera2",
        help="pi-check set-ups (their OpenCV versions) to trace",
    )
    parser.add_argument("--cpu", default="cortex-a72", help="qemu -cpu of the emulated Pi")
    parser.add_argument("--photos", type=int, default=30, help="photos (pi-check's first N)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--portable",
        type=int,
        default=0,
        metavar="N",
        help="also read pi-check's first N photos with the portable variants patched in",
    )
    parser.add_argument("--out", type=Path, default=pi_setups.REPO / "runs" / "cv-arch-diff")
    parser.add_argument("--cache", type=Path, default=pi_env.default_cache_dir())
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s cv-arch-diff: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        envs = pi_setups.prepare(args.setups, out, cache=args.cache)
        truth, _ = make_photos(out / "photos", args.photos, args.seed)
        photos = [f"photos/{name}" for name in sorted(truth)]
        sections = []
        born = 0
        for setup in args.setups:
            groups, notes = diff_setup(envs, setup, args.cpu, photos, out)
            born += sum(
                any(r != "same" for r in g.replayed.get("out", [])) for g in groups.values()
            )
            sections.append(report(setup, envs.info[setup]["versions"], groups, notes))
            if args.portable:
                truth, _ = make_photos(out / "photos-portable", args.portable, args.seed)
                files = [f"photos-portable/{name}" for name in sorted(truth)]
                line = try_portable(envs, setup, args.cpu, files, out)
                log.info("%s", line)
                sections.append(f"- {line}")
    except (pi_env.PiEnvError, PhotoError) as exc:
        print(f"cv-arch-diff: {exc}", file=sys.stderr)
        return 2
    text = "\n\n".join(sections)
    (out / "report.md").write_text(text + "\n")
    print(text)
    print(
        f"cv-arch-diff: {born} kinds of call give other results on aarch64 ({args.cpu}) from "
        f"identical inputs ({len(photos)} photos); report in {out / 'report.md'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
