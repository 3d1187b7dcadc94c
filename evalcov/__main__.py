"""``python -m evalcov``: the same command as ``evalcov``."""

from evalcov.cli import main

raise SystemExit(main())
