"""`python -m alignment ...`: the batch command line (see `alignment.cli`)."""

from .cli import main

raise SystemExit(main())
