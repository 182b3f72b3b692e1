"""Allow `python -m scalp_radar`."""

from scalp_radar.cli import main

raise SystemExit(main())
