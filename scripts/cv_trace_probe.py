"""Record every OpenCV call ``digits-predict`` makes, with digests of what went in and came out.

Run by ``scripts/cv_arch_diff.py`` with the same photos on x86_64 and on the emulated Pi (it
needs only numpy, OpenCV and the project, so it runs on either). Each ``cv2`` function is
wrapped before ``edge_app.cli.main`` reads the photos, so whatever the vision code calls, and
from where, is traced without editing it. Where a call has an exact or portable variant, that
variant is run on the same input too and its digest recorded beside the original's:

- ``INTER_LINEAR`` (resize, warpAffine, warpPerspective, remap) -> ``INTER_LINEAR_EXACT``,
  and ``INTER_NEAREST`` for the warps (OpenCV has no exact bilinear warp);
- float32 input of those four -> the same call in float64 (rounded back to float32);
- every call again with ``cv2.setUseOptimized(False)`` (IPP on x86, some dispatch on ARM);
- ``divide`` with a ``scale`` -> the same formula in float32 numpy, rounded half to even.

    python cv_trace_probe.py --trace OUT.jsonl [--save-inputs DIR] IMAGE...
    python cv_trace_probe.py --replay DIR --out OUT
    python cv_trace_probe.py --portable IMAGE...     (digits-predict --json, portable variants)

Tracing writes one JSON object per call: photo, call index, function, call site, dtypes and
interpolation, flags, and digests of input, output and variants. ``--save-inputs`` keeps the
arguments of the first calls of each kind (function, site, dtypes, interpolation) as pickles;
``--replay`` runs those again on another machine and saves the outputs (``.npy``), so each
call is compared on identical inputs even where the vision step's earlier calls already
made the inputs differ.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import pickle
import sys
import types
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

LINEAR_ARG = {"resize": 5, "warpAffine": 4, "warpPerspective": 4, "remap": 3}  # positional index
LINEAR_KW = {"resize": "interpolation", "warpAffine": "flags", "warpPerspective": "flags"}
LINEAR_KW["remap"] = "interpolation"
DECODERS = {"imdecode", "imread"}  # a photo starts where it is decoded
SKIP = {"setNumThreads", "getNumThreads", "setUseOptimized", "useOptimized", "getBuildInformation"}


def digest(value: Any) -> str:
    """A short hash of arrays (bytes, shape, dtype), numbers and nested tuples/lists of them."""
    h = hashlib.blake2b(digest_size=8)

    def feed(v: Any) -> None:
        if isinstance(v, np.ndarray):
            h.update(f"{v.shape}{v.dtype}".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, list | tuple):
            h.update(b"(")
            for item in v:
                feed(item)
            h.update(b")")
        else:
            h.update(repr(v).encode())

    feed(value)
    return h.hexdigest()


def _flags(args: tuple, kwargs: dict) -> str:
    """The call's non-array arguments, e.g. ``(_, (28, 28), interpolation=1)``."""
    parts = ["_" if isinstance(a, np.ndarray) else repr(a)[:40] for a in args]
    parts += [
        f"{k}={'_' if isinstance(v, np.ndarray) else repr(v)[:40]}" for k, v in kwargs.items()
    ]
    return "(" + ", ".join(parts) + ")"


def _site() -> str:
    frame = sys._getframe(3)  # _site <- _record <- traced <- the caller
    name = frame.f_code.co_filename
    short = name[name.rfind("edge_app") :] if "edge_app" in name else Path(name).name
    return f"{short}:{frame.f_lineno} {frame.f_code.co_name}"


def _linear_exact(
    name: str, args: tuple, kwargs: dict, instead: int = cv2.INTER_LINEAR_EXACT
) -> tuple[tuple, dict] | None:
    """The same call with INTER_LINEAR_EXACT (or ``instead``), when it asked for INTER_LINEAR."""
    if name not in LINEAR_ARG:
        return None
    kw, pos = LINEAR_KW[name], LINEAR_ARG[name]
    if kw in kwargs:
        flags = kwargs[kw]
    elif len(args) > pos:
        flags = args[pos]
    else:
        flags = cv2.INTER_LINEAR  # OpenCV's default for all four
    if (flags & cv2.INTER_MAX) != cv2.INTER_LINEAR:
        return None
    exact = (flags & ~cv2.INTER_MAX) | instead
    if len(args) > pos and kw not in kwargs:
        args = (*args[:pos], exact, *args[pos + 1 :])
        return args, kwargs
    return args, {**kwargs, kw: exact}


def _divide_float32(args: tuple, kwargs: dict) -> np.ndarray | None:
    """``cv2.divide(a, b, scale=s)`` computed in float32 numpy: a*s/b, 0 where b == 0."""
    if len(args) < 2 or not all(isinstance(a, np.ndarray) for a in args[:2]):
        return None
    a, b = args[0], args[1]
    scale = kwargs.get("scale", args[3] if len(args) > 3 else 1.0)
    if a.dtype != b.dtype or a.dtype != np.uint8 or kwargs.get("dtype", -1) != -1:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        q = a.astype(np.float32) * np.float32(scale) / b.astype(np.float32)
    q = np.where(b == 0, 0, q)
    return np.clip(np.rint(q), 0, 255).astype(np.uint8)


INTERPOLATIONS = {
    getattr(cv2, n): n
    for n in (
        "INTER_NEAREST",
        "INTER_LINEAR",
        "INTER_CUBIC",
        "INTER_AREA",
        "INTER_LANCZOS4",
        "INTER_LINEAR_EXACT",
        "INTER_NEAREST_EXACT",
    )
    if hasattr(cv2, n)
}


def mode(name: str, args: tuple, kwargs: dict) -> str:
    """What decides the kernel: input dtypes, and the interpolation where there is one."""
    dtypes = ",".join(str(a.dtype) for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray))
    if name in LINEAR_ARG:
        kw, pos = LINEAR_KW[name], LINEAR_ARG[name]
        flags = kwargs.get(kw, args[pos] if len(args) > pos else cv2.INTER_LINEAR)
        return f"{dtypes} {INTERPOLATIONS.get(flags & cv2.INTER_MAX, flags)}"
    return dtypes


def run_call(name: str, fn: Any, args: tuple, kwargs: dict) -> tuple[Any, dict[str, Any]]:
    """The call's result, and the results of its variants on the same input."""
    result = fn(*args, **kwargs)
    variants: dict[str, Any] = {}
    exact = _linear_exact(name, args, kwargs)
    if exact is not None:
        variants["linear_exact"] = _try(fn, *exact)
        if name.startswith("warp"):  # no exact bilinear warp: does nearest agree at least?
            nearest = _linear_exact(name, args, kwargs, cv2.INTER_NEAREST)
            variants["nearest"] = _try(fn, *nearest) if nearest else None
    floats = [a for a in args if isinstance(a, np.ndarray) and a.dtype == np.float32]
    if name in LINEAR_ARG and floats:  # the float32 kernels: does float64 agree?
        wide = tuple(a.astype(np.float64) if a is floats[0] else a for a in args)
        out = _try(fn, wide, kwargs)
        variants["float64"] = out.astype(np.float32) if isinstance(out, np.ndarray) else out
    if name == "divide":
        variants["float32_numpy"] = _divide_float32(args, kwargs)
    if name not in DECODERS:
        cv2.setUseOptimized(False)
        try:
            variants["unoptimized"] = _try(fn, args, kwargs)
        finally:
            cv2.setUseOptimized(True)
    return result, {k: v for k, v in variants.items() if v is not None}


def _try(fn: Any, args: tuple, kwargs: dict) -> Any:
    try:
        return fn(*args, **kwargs)
    except cv2.error as exc:
        return f"cv2.error: {str(exc).strip().splitlines()[-1][:120]}"


def save_arrays(stem: str, outputs: dict[str, Any]) -> None:
    for label, value in outputs.items():
        parts = value if isinstance(value, tuple) else (value,)
        for i, part in enumerate(parts):  # e.g. threshold's (retval, image)
            if isinstance(part, np.ndarray):
                np.save(f"{stem}-{label}-{i}.npy", part)


class Tracer:
    """Wraps cv2's functions, writes a record per call, keeps some inputs for a replay."""

    def __init__(self, trace: io.TextIOBase, inputs: Path | None, per_group: int):
        self.trace, self.inputs, self.per_group = trace, inputs, per_group
        self.photo, self.call, self.depth = -1, 0, 0
        self.by_file = False  # photos are told apart by the file being loaded, else by decodes
        self.saved: dict[str, int] = defaultdict(int)

    def start_photo(self, index: int) -> None:
        self.photo, self.call, self.by_file = index, 0, True

    def install(self) -> None:
        for name in dir(cv2):
            fn = getattr(cv2, name)
            if (
                name.startswith("_")
                or name in SKIP
                or not isinstance(fn, types.BuiltinFunctionType)
            ):
                continue
            setattr(cv2, name, self._wrap(name, fn))

    def _wrap(self, name: str, fn: Any) -> Any:
        def traced(*args: Any, **kwargs: Any) -> Any:
            if self.depth:  # OpenCV calling itself through Python (it does not, but be safe)
                return fn(*args, **kwargs)
            self.depth += 1
            try:
                return self._record(name, fn, args, kwargs)
            finally:
                self.depth -= 1

        traced.__name__ = name
        return traced

    def _record(self, name: str, fn: Any, args: tuple, kwargs: dict) -> Any:
        if name in DECODERS and not self.by_file:
            self.photo, self.call = self.photo + 1, 0
        key = (self.photo, self.call)
        self.call += 1
        site = _site()
        arrays_in = [a for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)]
        digest_in = digest(arrays_in) if name not in DECODERS else digest(args[0])
        group = f"{name} {site} {mode(name, args, kwargs)}"
        if self.inputs is not None and self.saved[group] < self.per_group:
            self.saved[group] += 1
            with open(self.inputs / f"{key[0]:03d}-{key[1]:04d}.pickle", "wb") as handle:
                pickle.dump({"fn": name, "group": group, "args": args, "kwargs": kwargs}, handle)
        result, variants = run_call(name, fn, args, kwargs)
        record = {
            "photo": key[0],
            "call": key[1],
            "fn": name,
            "site": site,
            "mode": mode(name, args, kwargs),
            "flags": _flags(args, kwargs),
            "in": digest_in,
            "out": digest(result),
            "variants": {k: digest(v) for k, v in variants.items()},
        }
        self.trace.write(json.dumps(record) + "\n")
        return result


def replay(inputs: Path, out: Path) -> int:
    """Run every saved call again on this machine; save digests and outputs to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(out / "replay.jsonl", "w") as handle:
        for path in sorted(inputs.glob("*.pickle")):
            with open(path, "rb") as f:
                call = pickle.load(f)
            result, variants = run_call(
                call["fn"], getattr(cv2, call["fn"]), call["args"], call["kwargs"]
            )
            outputs = {"out": result, **variants}
            save_arrays(str(out / path.stem), outputs)
            record = {"id": path.stem, "group": call["group"], "fn": call["fn"]}
            record["digests"] = {k: digest(v) for k, v in outputs.items()}
            record["errors"] = {k: v for k, v in outputs.items() if isinstance(v, str)}
            handle.write(json.dumps(record) + "\n")
            count += 1
    return count


def patch_portable() -> None:
    """Swap in the variants that agree across architectures, without touching the vision code.

    uint8 ``INTER_LINEAR`` -> ``INTER_LINEAR_EXACT``; float32 resize/warp -> computed in
    float64; ``divide`` of uint8 with a scale -> float32 numpy. For ``--portable``: would the
    vision step, so changed, give the same confidences on both architectures?
    """
    for name in (*LINEAR_ARG, "divide"):
        fn = getattr(cv2, name)

        def portable(*args: Any, _name: str = name, _fn: Any = fn, **kwargs: Any) -> Any:
            src = args[0] if args else None
            if _name == "divide":
                out = _divide_float32(args, kwargs)
                return _fn(*args, **kwargs) if out is None else out
            exact = _linear_exact(_name, args, kwargs)
            if isinstance(src, np.ndarray) and src.dtype == np.uint8 and exact is not None:
                return _fn(*exact[0], **exact[1])
            if isinstance(src, np.ndarray) and src.dtype == np.float32:
                return _fn(src.astype(np.float64), *args[1:], **kwargs).astype(np.float32)
            return _fn(*args, **kwargs)

        setattr(cv2, name, portable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*")
    parser.add_argument("--trace", type=Path, help="trace digits-predict into this file")
    parser.add_argument("--save-inputs", type=Path, help="keep some calls' inputs here")
    parser.add_argument("--per-group", type=int, default=3, help="inputs kept per kind of call")
    parser.add_argument("--replay", type=Path, help="run the calls saved in this folder again")
    parser.add_argument("--out", type=Path, help="where --replay writes")
    parser.add_argument(
        "--portable", action="store_true", help="run digits-predict --json with patch_portable()"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    if args.portable:
        from edge_app import cli

        patch_portable()
        return cli.main(["--json", "-q", *args.images])
    if args.replay:
        print(json.dumps({"replayed": replay(args.replay, args.out)}))
        return 0
    if args.save_inputs:
        args.save_inputs.mkdir(parents=True, exist_ok=True)
    from edge_app import cli, imageio

    with open(args.trace, "w") as trace:
        tracer = Tracer(trace, args.save_inputs, args.per_group)
        tracer.install()
        index = {str(Path(image)): i for i, image in enumerate(args.images)}
        load_image = getattr(imageio, "load_image", None)
        if load_image is not None:  # number photos by file (digits-predict loads them with it)

            def traced_load(path: Any, *more: Any, **kw: Any) -> Any:
                tracer.start_photo(index.get(str(Path(path)), -2))
                return load_image(path, *more, **kw)

            imageio.load_image = traced_load
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["--json", "-q", *args.images])
    untraced = sorted(
        f"{mod}.{attr}"
        for mod, module in list(sys.modules.items())
        if mod.startswith("edge_app")
        for attr, value in vars(module).items()
        if isinstance(value, types.BuiltinFunctionType)
        and getattr(value, "__module__", "") == "cv2"
    )
    summary = {"exit": code, "photos": tracer.photo + 1, "untraced": untraced}
    summary["numbered_by"] = "file" if tracer.by_file else "decode"
    summary["readings"] = [json.loads(line) for line in out.getvalue().splitlines()]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
