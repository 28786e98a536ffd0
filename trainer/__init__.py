"""DigitLite trainer: MNIST in, a trained and evaluated ``model.keras`` out.

Modules, one job each (heavy packages are imported inside the functions that need them):

* :mod:`trainer.data` - find, download, verify and read MNIST; the validation split.
* :mod:`trainer.models` - the architecture registry (``mlp``, ``seed-cnn``, ``edge-cnn``).
* :mod:`trainer.train` - augmentation pipeline, schedule, per-epoch checkpoints, resume.
* :mod:`trainer.evaluate` - test-set metrics (scikit-learn).
* :mod:`trainer.eda`, :mod:`trainer.plots` - the figures; :mod:`trainer.report` - tables, report.md.
* :mod:`trainer.pipeline` - one run end to end; :mod:`trainer.cli` - ``digits-train``.
"""
