"""``python -m edge_app.app`` runs ``digits-app``."""

from edge_app.app.cli import main

raise SystemExit(main())
