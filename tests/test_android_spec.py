"""What can be checked of the APK here (the build itself downloads the Android SDK/NDK).

buildozer.spec must parse; list the python-for-android recipes the app imports; ask for the
camera; package the shipped models and only edge code. The file selection below replays
buildozer's own ``_copy_application_sources`` rules (buildozer 1.6), and the import graph is
walked with ``ast`` from ``main.py`` through every ``edge_app`` module it reaches, lazy imports
inside functions included.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "buildozer.spec"

#: top-level module -> the python-for-android recipe that provides it
RECIPE_OF = {
    "kivy": "kivy",
    "numpy": "numpy",
    "cv2": "opencv",
    "PIL": "pillow",
    "tflite_runtime": "tflite-runtime",
    "jnius": "pyjnius",
    "android": "android",
}
#: imported only on other platforms, inside functions, with a fallback when missing
NOT_ON_ANDROID = {"ai_edge_litert", "picamera2"}
FORBIDDEN = {"tensorflow", "keras", "trainer", "converter", "benchmarks"}
#: stdlib parts python-for-android leaves out of the APK's Python
NOT_IN_P4A_PYTHON = {"tkinter", "sqlite3", "lib2to3", "idlelib", "ensurepip", "venv", "unittest"}


# ----------------------------------------------------------------------------- the spec
@pytest.fixture(scope="module")
def spec() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # buildozer keeps key case
    assert parser.read(SPEC), "buildozer.spec is missing"
    return parser


def getlist(spec: configparser.ConfigParser, key: str) -> list[str]:
    """buildozer's getlist: comma-separated, stripped, empty items dropped."""
    raw = spec.get("app", key, fallback="")
    return [item.strip() for item in raw.split(",") if item.strip()]


def recipe_names(spec: configparser.ConfigParser) -> set[str]:
    return {r.split("==")[0].strip().lower() for r in getlist(spec, "requirements")}


def test_spec_parses_and_names_the_app(spec):
    app = spec["app"]
    assert app["title"] == "DigitLite"
    assert app["package.name"] and app["package.domain"]
    assert app["source.dir"] == "."
    assert (ROOT / app["source.dir"] / "main.py").is_file()  # p4a runs main.py from source.dir
    assert "edge_app/__init__.py" in app["version.filename"]


def test_requirements_are_the_recipes_the_app_needs(spec):
    names = recipe_names(spec)
    assert {"python3", "kivy", "numpy", "tflite-runtime"} <= names
    assert "tensorflow" not in names and "ai-edge-litert" not in names


def test_arm64_and_camera_permission(spec):
    assert "arm64-v8a" in getlist(spec, "android.archs")
    perms = [p.removeprefix("android.permission.") for p in getlist(spec, "android.permissions")]
    assert "CAMERA" in perms
    assert int(spec["app"]["android.minapi"]) >= 23  # run-time permissions exist from API 23


# ----------------------------------------------------------------------------- file selection
def packaged(spec: configparser.ConfigParser, relpath: str) -> bool:
    """Would buildozer copy this file (path relative to source.dir) into the APK?

    Mirrors buildozer 1.6 ``Buildozer._copy_application_sources``: hidden parts are skipped;
    a directory is excluded by ``exclude_dirs`` prefix or ``exclude_patterns`` unless an
    ``include_patterns`` entry matches it; a file likewise, then filtered by extension.
    """
    include_exts = [e.lower() for e in getlist(spec, "source.include_exts")]
    exclude_exts = [e.lower() for e in getlist(spec, "source.exclude_exts")]
    exclude_dirs = [d.lower().rstrip("/") + "/" for d in getlist(spec, "source.exclude_dirs")]
    exclude_patterns = [p.lower() for p in getlist(spec, "source.exclude_patterns")]
    include_patterns = [p.lower() for p in getlist(spec, "source.include_patterns")]
    parts = relpath.split("/")
    if any(p.startswith(".") for p in parts):
        return False
    directory = "/".join(parts[:-1]).lower()
    if directory:  # buildozer judges each file by its own directory (os.walk's root)
        root = directory + "/"
        excluded = any(root.startswith(d) for d in exclude_dirs)
        if not excluded:
            excluded = any(fnmatch(root, p) for p in exclude_patterns)
        if any(fnmatch(root, p) for p in include_patterns):
            excluded = False
        if excluded:
            return False
    name = parts[-1]
    candidate = f"{directory}/{name}" if directory else name.lower()
    excluded = any(fnmatch(candidate, p) for p in exclude_patterns)
    if any(fnmatch(candidate, p) for p in include_patterns):
        excluded = False
    if excluded:
        return False
    ext = Path(name).suffix[1:].lower()
    if ext:
        if include_exts and ext not in include_exts:
            return False
        if exclude_exts and ext in exclude_exts:
            return False
    return True


def repo_files() -> list[str]:
    """Files of this checkout, hidden folders (.git, .venv, .buildozer) pruned."""
    out = []
    for root, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_root = Path(root).relative_to(ROOT).as_posix()
        for name in files:
            if not name.startswith("."):
                out.append(name if rel_root == "." else f"{rel_root}/{name}")
    return out


def test_shipped_models_and_layout_are_packaged(spec):
    for rel in (
        "main.py",
        "edge_app/models/digits_int8.tflite",
        "edge_app/models/digits_float32.tflite",
        "edge_app/models/conversion.json",
        "edge_app/app/layout.kv",
        "edge_app/vision/framing.py",
    ):
        assert packaged(spec, rel), rel
    for model in (ROOT / "edge_app" / "models").glob("*.tflite"):
        assert packaged(spec, model.relative_to(ROOT).as_posix())


def test_trainer_converter_benchmarks_and_tests_stay_out(spec):
    for rel in (
        "trainer/train.py",
        "converter/cli.py",
        "benchmarks/table.py",
        "tests/test_app_kivy.py",
        "tests/data/models/band_int8.tflite",
        "runs/latest/model_int8.tflite",
        "docs/DEVICES.md",
        "README.md",
        "pyproject.toml",
        "Makefile",
        "setup.py",
        ".venv/lib/site.py",
        "edge_app/__pycache__/cli.cpython-311.pyc",
    ):
        assert not packaged(spec, rel), rel


def test_only_edge_code_is_packaged_from_this_checkout(spec):
    chosen = [rel for rel in repo_files() if packaged(spec, rel)]
    outside = [rel for rel in chosen if rel != "main.py" and not rel.startswith("edge_app/")]
    assert outside == []
    assert "edge_app/app/ui.py" in chosen and "main.py" in chosen


# ----------------------------------------------------------------------------- import graph
def module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, module: str) -> list[tuple[str, bool]]:
    """``(imported module, at module level?)`` for every import statement in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, not in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append((target, not in_function))
                for alias in child.names:  # "from pkg import submodule"
                    found.append((f"{target}.{alias.name}", not in_function))
            visit(child, inside)

    visit(tree, False)
    return found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, str, bool]]]]:
    """Every edge_app module reachable from main.py, and every outside import by top name."""
    reached: dict[str, Path] = {}
    outside: dict[str, list[tuple[str, str, bool]]] = {}
    todo = [("__main__", ROOT / "main.py")]
    while todo:
        module, path = todo.pop()
        if module in reached:
            continue
        reached[module] = path
        for name, top_level in imports_of(path, module):
            top = name.split(".")[0]
            if top == "edge_app":
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b, a.b.c
                    sub = ".".join(parts[:depth])
                    file = module_file(sub)
                    if file is not None and sub not in reached:
                        todo.append((sub, file))
            else:
                third_party = top not in sys.stdlib_module_names and top != "__future__"
                if top and (third_party or top in NOT_IN_P4A_PYTHON):
                    outside.setdefault(top, []).append((module, name, top_level))
    return reached, outside


def test_the_walk_reaches_the_whole_app(graph):
    reached, _ = graph
    for module in (
        "edge_app.app.cli",
        "edge_app.app.ui",
        "edge_app.app.widgets",
        "edge_app.app.sources",
        "edge_app.reader",
        "edge_app.vision.api",
        "edge_app.classifier",
        "edge_app.runtime",
        "edge_app.imageio",
        "edge_app.models",
    ):
        assert module in reached, module


def test_every_module_the_app_imports_is_packaged(spec, graph):
    reached, _ = graph
    for module, path in reached.items():
        rel = path.relative_to(ROOT).as_posix()
        assert packaged(spec, rel), f"{module} ({rel}) is imported but not packaged"


def test_every_outside_import_is_a_p4a_requirement(spec, graph):
    _, outside = graph
    names = recipe_names(spec)
    assert not FORBIDDEN & set(outside), {k: outside[k] for k in FORBIDDEN & set(outside)}
    assert not NOT_IN_P4A_PYTHON & set(outside)
    unknown = set(outside) - set(RECIPE_OF) - NOT_ON_ANDROID
    assert not unknown, {k: outside[k] for k in unknown}
    for top in set(outside) & set(RECIPE_OF):
        assert RECIPE_OF[top] in names, f"{top} is imported by {outside[top][0][0]}"
    assert "cv2" in outside  # edge_app.vision needs OpenCV: hence the opencv recipe


def test_desktop_only_imports_are_lazy(graph):
    _, outside = graph
    for top in NOT_ON_ANDROID & set(outside):
        eager = [(m, n) for m, n, top_level in outside[top] if top_level]
        assert eager == [], f"{top} imported at module level: {eager}"


def test_the_runtime_chain_includes_what_the_apk_has(spec):
    from edge_app.runtime import RUNTIMES

    modules = {r.module.split(".")[0] for r in RUNTIMES}
    assert "tflite_runtime" in modules and "tflite-runtime" in recipe_names(spec)


# ----------------------------------------------------------------------------- TFLite 2.8
def test_shipped_models_load_in_the_apks_tflite_2_8():
    """The p4a recipe builds TFLite 2.8: the converter's compatibility report must say every
    shipped model loads there (and on 32-bit Pi OS's tflite-runtime 2.14)."""
    report_path = ROOT / "edge_app" / "models" / "conversion.json"
    if not report_path.is_file():
        pytest.skip("no shipped models yet (edge_app/models/conversion.json; make default-model)")
    report = json.loads(report_path.read_text())
    rows = {row["format"]: row for row in report["formats"]}
    assert report["shipped"], "conversion.json names no shipped model"
    for fmt, filename in report["shipped"].items():
        assert (ROOT / "edge_app" / "models" / filename).is_file(), filename
        runtimes = rows[fmt]["compat"]["runtimes"]
        for target in ("tflite-2.8", "tflite-runtime-2.14"):
            assert runtimes[target]["loads"] is True, (fmt, target, runtimes[target]["detail"])
