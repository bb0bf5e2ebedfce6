"""Errors of the data layer; each message names the object, the problem and the fix."""


class BpoError(Exception):
    """Base of every error the product reports to a user (CLI exit code 2 unless stated)."""

    exit_code = 2


class ConfigError(BpoError):
    """bpo.toml or a mapping file is wrong."""


class SchemaError(BpoError):
    """A frame does not fit its canonical table; `problems` lists every problem found."""

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class ImportFileError(BpoError):
    """A file cannot be imported as it is."""


class WorkspaceError(BpoError):
    """The workspace is missing or damaged."""


class StoreDamaged(WorkspaceError):
    """A table's manifest or files, or the metadata database, are damaged: nothing was changed; the message says
    how to repair or restore."""


class StoreBusy(WorkspaceError):
    """Another process holds the metadata database longer than we wait."""


class SourceUnreachable(BpoError):
    """A source could not be reached after retries."""

    exit_code = 3


class AccessDenied(BpoError):
    """The viewer's scope does not allow this."""


class WarehouseUnreachable(BpoError):
    """The `[store]` warehouse did not answer, or refused the statement: the message names it and the fix."""

    exit_code = 3
