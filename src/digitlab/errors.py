"""digitlab's own exceptions.

Every library function that fails because of what a user gave it (a file, a name, a value) raises one
of these with a one-line message saying which thing, what is wrong and what to do. The CLI prints
that line and exits non-zero; nothing else in the package prints for people.
"""

from __future__ import annotations


class DigitlabError(Exception):
    """Base class: a user-facing failure with a one-line message."""

    exit_code = 1


class ConfigError(DigitlabError):
    """A bad configuration value, unknown key, unknown name, or bad option combination."""

    exit_code = 2


class DataError(DigitlabError):
    """Data that cannot be found, downloaded, read or verified."""


class CheckpointError(DigitlabError):
    """A checkpoint or run folder that cannot be read, or does not fit the model."""


class TrainingError(DigitlabError):
    """Training stopped for a reason the user can act on (NaN loss, interruption)."""


class TrainingInterrupted(TrainingError):
    """Ctrl-C or SIGTERM during training; a resume checkpoint has been saved."""

    exit_code = 130


class DigitlabNote(Warning):
    """Something a user should know that is not an error (the CLI prints it as one `warning:` line)."""
