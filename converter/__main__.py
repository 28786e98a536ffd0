"""``python -m converter`` = ``digits-convert``."""

from converter.cli import main

raise SystemExit(main())
