"""``python -m benchmarks`` is ``digits-bench``."""

from benchmarks.cli import main

raise SystemExit(main())
