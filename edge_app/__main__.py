"""``python -m edge_app`` runs ``digits-predict``."""

from edge_app.cli import main

raise SystemExit(main())
