"""``digits-serve``: the REST API and offline web page (upload, draw, camera) of DigitLite.

An optional extra (``pip install 'digitlite[serve]'``: Starlette, uvicorn, python-multipart),
with no TensorFlow, like the rest of :mod:`edge_app`. The modules, one job each:

* :mod:`~edge_app.serve.config` - :class:`ServeConfig`, the parsed flags;
* :mod:`~edge_app.serve.app` - :func:`create_app`, routes and error handling;
* :mod:`~edge_app.serve.engine` - who reads: one reader on a thread, a bounded FIFO queue;
* :mod:`~edge_app.serve.pool` - ``--workers N``: N reader processes behind that one queue;
* :mod:`~edge_app.serve.jobs` - the work of one request, as run by a reader;
* :mod:`~edge_app.serve.uploads` - bodies, multipart forms, JSON, size limits;
* :mod:`~edge_app.serve.inputs` - bytes -> image (pixel limit), an image -> one 28x28 digit;
* :mod:`~edge_app.serve.errors` - the one JSON error shape and the table of codes;
* :mod:`~edge_app.serve.openapi` - the schema at ``/openapi.json``;
* :mod:`~edge_app.serve.running` - the socket and uvicorn;
* :mod:`~edge_app.serve.cli` - the command; ``static/`` - the page.

Importing this package imports no web framework; :mod:`~edge_app.serve.app` does.
"""
