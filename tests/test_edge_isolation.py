"""The one rule: edge_app never imports tensorflow, keras, trainer, converter or benchmarks.

Proved three ways: a static scan of every edge_app source file; a fresh interpreter that imports
every edge_app module and reads digits end to end (CLI and, when its extra is installed, the
digits-serve app included), then looks at ``sys.modules``; and (slow) the same in new
virtualenvs holding only the ``edge`` extra, and the ``edge`` + ``serve`` extras, where
TensorFlow cannot even be imported. The ``serve`` extra's whole dependency tree is also checked
for TensorFlow from the installed packages' metadata, without a network.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "edge_app"
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "trainer", "converter", "benchmarks")
MODEL = Path(__file__).parent / "data" / "models" / "band_int8.tflite"
# what starlette, uvicorn and python-multipart need in turn (installed with --no-deps)
SERVE_TRANSITIVE = ["anyio", "idna", "sniffio", "typing_extensions", "click", "h11"]

# Runs in the fresh interpreter; prints one JSON report on its last stdout line.
PROBE = r"""
import contextlib, importlib, io, json, pkgutil, sys, tempfile
from pathlib import Path

FORBIDDEN = {forbidden!r}
SERVE_PACKAGES = {{"starlette", "uvicorn", "multipart", "python_multipart", "httptools"}}
import asyncio
import cv2, numpy as np
import edge_app

imported, skipped = [], []
for info in pkgutil.walk_packages(edge_app.__path__, "edge_app."):
    if info.name.rsplit(".", 1)[-1] == "__main__":  # importing it would run the command
        continue
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except ModuleNotFoundError as exc:  # the Kivy app and the server are extras of their own
        missing = (exc.name or "").split(".")[0]
        kivy_app = info.name.startswith("edge_app.app") and missing == "kivy"
        server = info.name.startswith("edge_app.serve") and missing in SERVE_PACKAGES
        if not (kivy_app or server):
            raise
        skipped.append(info.name)

from edge_app.classifier import Classifier
from edge_app.reader import DigitReader
from edge_app import cli

page = np.full((480, 640, 3), 235, np.uint8)
cv2.putText(page, "4207", (150, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, (20, 20, 20), 12)
classifier = Classifier({model!r})
reading = DigitReader(classifier, min_confidence=0.0).read(page)

with tempfile.TemporaryDirectory() as tmp:
    image = str(Path(tmp) / "page.png")
    cv2.imwrite(image, page)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([image, "--model", {model!r}, "--json", "-q"])
record = json.loads(out.getvalue())

served = None
if "edge_app.serve.app" in imported:  # POST /v1/read through the ASGI app, no HTTP client
    from edge_app.serve.app import create_app
    from edge_app.serve.config import ServeConfig

    app = create_app(ServeConfig(model={model!r}))
    body = cv2.imencode(".png", page)[1].tobytes()
    sent = []

    async def receive():
        return {{"type": "http.request", "body": body, "more_body": False}}

    async def send(message):
        sent.append(message)

    async def call():
        async with app.router.lifespan_context(app):
            await app({{"type": "http", "method": "POST", "path": "/v1/read", "headers": [
                (b"content-type", b"image/png"), (b"content-length", str(len(body)).encode())],
                "query_string": b"", "root_path": "", "scheme": "http",
                "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1), "http_version": "1.1",
                "asgi": {{"version": "3.0"}}}}, receive, send)

    asyncio.run(call())
    served = {{"status": sent[0]["status"], "record": json.loads(sent[1]["body"])}}

print(json.dumps({{
    "imported": imported,
    "skipped": skipped,
    "forbidden": sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN),
    "runtime": classifier.runtime,
    "detections": len(reading.detections),
    "cli_code": code,
    "cli_record": record,
    "served": served,
}}))
"""


def _probe_source() -> str:
    return PROBE.format(forbidden=FORBIDDEN, model=str(MODEL))


def _run_probe(python: str | Path, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["KIVY_HOME"] = str(cwd / "kivy-home")  # Kivy creates only the last directory level
    env["KIVY_NO_CONSOLELOG"] = "1"
    result = subprocess.run(
        [str(python), "-c", _probe_source()],
        cwd=cwd,  # not the repo: edge_app must come from the install, trainer must not be near
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check_report(report: dict) -> None:
    assert report["forbidden"] == [], f"edge_app pulled in {report['forbidden']}"
    for module in (
        "edge_app.cli",
        "edge_app.reader",
        "edge_app.imageio",
        "edge_app.vision",
        "edge_app.batch",
        "edge_app.serve",
    ):
        assert module in report["imported"]
    assert report["runtime"] != "tensorflow"
    assert report["detections"] >= 1  # the printed digits were found and classified
    assert report["cli_code"] == 0
    assert set(report["cli_record"]) >= {"path", "digits", "detections", "latency_ms"}
    if report["served"] is not None:  # the serve extra is installed: the API read it too
        assert report["served"]["status"] == 200
        assert report["served"]["record"]["digits"] == report["cli_record"]["digits"]


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):  # importlib.import_module("tensorflow"), __import__
            func = node.func
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.append((node.lineno, arg.value))
    return names


def test_no_edge_source_imports_a_forbidden_package():
    offenders = []
    sources = sorted(EDGE.rglob("*.py"))
    assert len(sources) >= 10
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, name in _imported_names(tree):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    assert offenders == []


def test_the_scan_would_catch_an_offender():
    code = "import numpy\nfrom tensorflow import lite\nimportlib.import_module('keras.layers')\n"
    names = [name for _, name in _imported_names(ast.parse(code))]
    assert names == ["numpy", "tensorflow", "keras.layers"]


def test_fresh_interpreter_reads_digits_without_tensorflow(tmp_path):
    """TensorFlow is installed in this venv, so this proves edge_app never reaches for it."""
    report = _run_probe(sys.executable, cwd=tmp_path)
    _check_report(report)
    assert any(m.startswith("edge_app.app") for m in report["imported"] + report["skipped"])
    assert "edge_app.serve.app" in report["imported"]  # the dev venv has the serve extra
    assert report["served"] is not None


def _extra_requirements(extra: str) -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["optional-dependencies"][extra]


def _dependency_closure(requirements: list[str], extras: set[str]) -> set[str]:
    """Every distribution ``requirements`` pull in, from installed metadata (markers applied)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [(Requirement(r), extras) for r in requirements]
    while todo:
        req, wanted = todo.pop()
        env_ok = [not req.marker or req.marker.evaluate({"extra": e}) for e in wanted or {""}]
        if not any(env_ok):
            continue
        name = canonicalize_name(req.name)
        if name == "digitlite":  # digitlite[edge]: follow the project's own extras
            for extra in req.extras:
                todo += [(Requirement(r), set()) for r in _extra_requirements(extra)]
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. a platform-only package); nothing to follow
        todo += [(Requirement(r), set(req.extras)) for r in dist.requires or []]
    return seen


def test_serve_extra_pulls_no_tensorflow():
    closure = _dependency_closure(_extra_requirements("serve"), set())
    assert {"starlette", "uvicorn", "python-multipart", "numpy", "ai-edge-litert"} <= closure
    assert not closure & {"tensorflow", "keras", "tf-keras", "tensorflow-cpu", "jax"}, closure


def test_the_closure_would_see_tensorflow():
    closure = _dependency_closure(_extra_requirements("train"), set())
    assert "tensorflow" in closure


def _own_requirements(extra: str) -> list[str]:
    """An extra's packages, with ``digitlite[...]`` references expanded."""
    out = []
    for req in _extra_requirements(extra):
        if req.startswith("digitlite["):
            for inner in req[len("digitlite[") : req.index("]")].split(","):
                out += _own_requirements(inner.strip())
        else:
            out.append(req)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["edge", "serve"])
def test_edge_extra_alone_is_enough(tmp_path, extra):
    """A new venv with only the packages of the ``edge`` (or ``edge`` + ``serve``) extra, no
    TensorFlow: predict works, and with ``serve`` the API reads the same digits.

    Installed with ``--no-deps`` (the extra's own packages, then the project in editable mode)
    so it takes ~10 s from the pip cache instead of a minute of dependency resolution; the
    serve extra's dependencies' own dependencies (anyio, idna, click, h11, ...) are listed in
    SERVE_TRANSITIVE for the same reason.
    """
    env_dir = tmp_path / "edge-venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
    ]
    packages = _own_requirements(extra) + (SERVE_TRANSITIVE if extra == "serve" else [])
    for args in (packages, ["-e", str(ROOT)]):
        result = subprocess.run(
            [*pip, *args], capture_output=True, text=True, timeout=600, cwd=tmp_path
        )
        if result.returncode != 0:
            pytest.skip(f"cannot install the edge extra here: {result.stderr.strip()[-300:]}")

    no_tf = subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True)
    assert no_tf.returncode != 0, "TensorFlow leaked into the edge-only venv"

    report = _run_probe(python, cwd=tmp_path)
    _check_report(report)
    assert report["runtime"] == "litert"
    assert (report["served"] is not None) == (extra == "serve")

    # the installed console script, as a user would run it
    image = tmp_path / "blank.png"
    cv2.imwrite(str(image), np.full((480, 640), 240, np.uint8))
    result = subprocess.run(
        [str(env_dir / "bin" / "digits-predict"), str(image), "--model", str(MODEL), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["digits"] == ""
    assert "litert" in result.stderr
