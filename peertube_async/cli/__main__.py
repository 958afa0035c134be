"""``python -m peertube_async.cli``: the command line."""

from . import main

raise SystemExit(main())
