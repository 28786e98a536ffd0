"""``python -m trainer`` runs ``digits-train``."""

from trainer.cli import main

raise SystemExit(main())
