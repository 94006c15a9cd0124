"""`python -m intake.cli`: the `guichet` command."""

from intake.cli.main import main

raise SystemExit(main())
