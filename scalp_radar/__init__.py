"""Scalp Radar: live crypto-futures market radar, data daemon and history backfill."""

__version__ = "0.1.0"
