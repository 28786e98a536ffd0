"""Which models the app offers, and loading them with a clear fallback when one is broken.

An :class:`Engine` is one loaded model: the :class:`~edge_app.classifier.Classifier` (for the
drawing canvas) and a :class:`~edge_app.reader.DigitReader` over it (for camera frames and
photos). :class:`EngineBook` offers the shipped int8 and float32 models plus ``--model``, loads
them on demand and keeps them, so switching back and forth is instant. A ``--model`` that is
missing or broken never stops the app: the shipped model is used and the reason is shown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_app.errors import DigitLiteError, ModelError
from edge_app.models import shipped_models
from edge_app.native_output import quiet_native_output
from edge_app.process import DEFAULT_THREADS

log = logging.getLogger(__name__)

#: the shipped model the app starts with when no ``--model`` is given (int8: smallest, fastest).
PREFERRED_SHIPPED = ("int8", "float32")


@dataclass
class Engine:
    """One loaded model: ``classifier`` classifies 28x28 images, ``reader`` reads whole frames."""

    name: str
    path: Path
    classifier: Any
    reader: Any


def load_engine(
    name: str, path: Path, *, threads: int = DEFAULT_THREADS, min_confidence: float | None = None
) -> Engine:
    """Load a model and build its reader (the real thing; tests inject a fake loader). The
    interpreter's load chatter on stderr is dropped unless debug logging is on.

    Raises:
        ModelError, RuntimeNotFoundError: the model cannot be used.
    """
    from edge_app.classifier import Classifier
    from edge_app.reader import DigitReader

    with quiet_native_output(not log.isEnabledFor(logging.DEBUG)):
        classifier = Classifier(path, threads=threads)
    kwargs = {} if min_confidence is None else {"min_confidence": min_confidence}
    return Engine(name, Path(path), classifier, DigitReader(classifier, **kwargs))


def shipped_model_paths() -> dict[str, Path]:
    """``{name: path}`` of the models shipped in :mod:`edge_app.models` that exist on disk."""
    return {name: path for name, path in shipped_models().items() if path.is_file()}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def user_model_name(path: Path) -> str:
    return f"{Path(path).stem} (--model)"


class EngineBook:
    """The models on offer, loaded lazily and cached (thread-safe: loads run on a worker).

    Args:
        shipped: ``{name: path}`` of shipped models (default: :func:`shipped_model_paths`).
        user_model: the ``--model`` file, offered first when given.
        loader: ``(name, path) -> Engine``; default :func:`load_engine` with ``threads``.
    """

    def __init__(
        self,
        shipped: dict[str, Path] | None = None,
        user_model: Path | None = None,
        loader: Callable[[str, Path], Engine] | None = None,
        *,
        threads: int = DEFAULT_THREADS,
        min_confidence: float | None = None,
    ) -> None:
        shipped = shipped_model_paths() if shipped is None else dict(shipped)
        self.paths: dict[str, Path] = {}
        self.user_name: str | None = None
        ordered = sorted(
            shipped, key=lambda n: PREFERRED_SHIPPED.index(n) if n in PREFERRED_SHIPPED else 99
        )
        same = [n for n in shipped if user_model is not None and _same_file(user_model, shipped[n])]
        if same:  # --model names a shipped file: offer it once, under its shipped name, first
            ordered.remove(same[0])
            ordered.insert(0, same[0])
        elif user_model is not None:
            self.user_name = user_model_name(user_model)
            self.paths[self.user_name] = Path(user_model)
        for name in ordered:
            self.paths[name] = shipped[name]
        self._loader = loader or (
            lambda name, path: load_engine(
                name, path, threads=threads, min_confidence=min_confidence
            )
        )
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.paths)

    def get(self, name: str) -> Engine:
        """The engine for ``name``, loading it on first use.

        Raises:
            ModelError: unknown name, or the model cannot be loaded.
        """
        with self._lock:
            if name in self._engines:
                return self._engines[name]
            if name not in self.paths:
                raise ModelError(f"no model named {name!r}; available: {', '.join(self.paths)}")
            engine = self._loader(name, self.paths[name])
            self._engines[name] = engine
            log.info("model %s ready (%s)", name, self.paths[name])
            return engine

    def first_usable(self) -> tuple[Engine, str]:
        """Load the first model that works: ``--model`` if given, else int8, else float32.

        Returns:
            ``(engine, warning)``; the warning explains a ``--model`` that could not be used
            (the broken entry is dropped from :attr:`names`).

        Raises:
            ModelError: no model at all can be loaded.
        """
        warning = ""
        failures: list[str] = []
        for name in list(self.paths):
            try:
                return self.get(name), warning
            except DigitLiteError as exc:
                log.warning("cannot load model %s: %s", name, exc)
                failures.append(f"{name}: {exc}")
                if name == self.user_name:  # never offer a broken --model again
                    del self.paths[name]
                    self.user_name = None
                    warning = f"cannot use --model: {exc}; using the shipped model instead"
        if not failures:
            raise ModelError("no model to run: none shipped in edge_app/models and no --model")
        raise ModelError("no usable model: " + "; ".join(failures))
