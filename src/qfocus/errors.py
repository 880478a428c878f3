"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""


class QfocusError(Exception):
    """Bad input or a missing resource; the message names the problem and the fix."""

    exit_code = 2


class InputError(QfocusError):
    """The document, the query or an option cannot be used as given."""


class ModelNotAvailable(QfocusError):
    """A model name or path that cannot be loaded offline."""


class DocumentTooLong(QfocusError):
    """The prompt does not fit the model's window under a strategy that will not shorten it."""
