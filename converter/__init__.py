"""DigitLite converter: ``model.keras`` in; verified, self-describing ``.tflite`` variants out.

Modules, one job each:

* :mod:`converter.formats` - THE table of formats (name, file, converter settings, run-time needs)
* :mod:`converter.convert` - safe Keras loading, fixed-batch rebuild, TFLite conversion
* :mod:`converter.calibration` - model inputs and the int8 representative dataset
* :mod:`converter.verify` - every variant vs Keras through the edge Classifier
* :mod:`converter.stamp` - the contract embedded in each file's metadata
* :mod:`converter.compat` - minimum runtime version and which runtimes can load a model
* :mod:`converter.gate` - the accuracy gate (its policy and default), shared with the benchmarks
* :mod:`converter.report` - ``conversion.md`` (``conversion.json`` is the same dict)
* :mod:`converter.pipeline` - one run, start to finish; :mod:`converter.cli` - ``digits-convert``
* :mod:`converter.ship` - publish a verified run's models as the app's default
"""
