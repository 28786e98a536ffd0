"""``digits-serve``: the REST API and offline web page (upload, draw, camera) of DigitLite.

An optional extra (``pip install 'digitlite[serve]'``: Starlette, uvicorn, python-multipart),
with no TensorFlow, like the rest of :mod:`edge_app`. The modules, one job each:

* :mod:`~edge_app.serve.config` - :class:`ServeConfig`, the parsed flags;
* :mod:`~edge_app.serve.app` - :func:`create_app`, routes and error handling;
* :mod:`~edge_app.serve.engine` - one reader per process on its own thread, a bounded queue;
* :mod:`~edge_app.serve.uploads` - bodies, multipart forms, JSON, size limits;
* :mod:`~edge_app.serve.inputs` - bytes -> image (pixel limit), an image -> one 28x28 digit;
* :mod:`~edge_app.serve.errors` - the one JSON error shape and the table of codes;
* :mod:`~edge_app.serve.openapi` - the schema at ``/openapi.json``;
* :mod:`~edge_app.serve.cli` - the command; ``static/`` - the page.

Importing this package imports no web framework; :mod:`~edge_app.serve.app` does.
"""
