"""``python -m edge_app.serve`` = ``digits-serve``."""

from edge_app.serve.cli import main

raise SystemExit(main())
