"""Errors a user can act on. The CLI prints their message and exits non-zero, without a traceback."""


class DestilaError(Exception):
    """A problem with the user's input or environment, described so it can be fixed."""

    exit_code = 2


class DataError(DestilaError):
    """A data file is unreadable or malformed. The message names the file, record and field."""


class ConfigError(DestilaError):
    """A recipe or option is invalid. The message names the field and what is wrong."""


class ModelError(DestilaError):
    """A model cannot be found or loaded safely."""
