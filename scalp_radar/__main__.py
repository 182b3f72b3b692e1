"""Allow `python -m scalp_radar`."""

from scalp_radar.app.cli import main

raise SystemExit(main())
