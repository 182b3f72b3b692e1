"""What happened, told to the screens: past-tense messages about the dashboard's backfill."""

from __future__ import annotations

from textual.message import Message

from scalp_radar.tui.backfill_job import BackfillJob


class BackfillMessage(
    Message, bubble=False
):  # each subclass must repeat bubble=False (Textual resets it)
    """Something happened to `job` (the app forwards each one to the screens on its stack)."""

    def __init__(self, job: BackfillJob) -> None:
        super().__init__()
        self.job = job


class BackfillStarted(BackfillMessage, bubble=False):
    """A new job was accepted; its plan is being made."""


class BackfillPlanned(BackfillMessage, bubble=False):
    """The job's plan is known (`job.plan`); fetching starts."""


class BackfillProgressed(BackfillMessage, bubble=False):
    """More requests finished (`job.latest`); a newer one replaces an unhandled older one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BackfillProgressed) and message.job is self.job


class BackfillFinished(BackfillMessage, bubble=False):
    """The job ended: `job.result` (complete, cancelled, incomplete) or `job.error`."""
