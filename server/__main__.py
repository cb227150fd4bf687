"""Lets ``python -m server`` behave exactly like the ``shotfeed`` console script."""

from server.cli import main

raise SystemExit(main())
