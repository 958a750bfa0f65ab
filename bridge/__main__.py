"""`python -m bridge`: the same command line as `mysql-auth-bridge` (bridge/cli.py)."""

from bridge.cli import main

raise SystemExit(main())
