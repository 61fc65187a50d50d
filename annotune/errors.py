"""annotune's own errors: what a user can fix (params, input files, models, data). ``cli.run`` prints these
as one line naming the key, file, row or column; anything else is a bug and keeps its traceback.

They live in this small module so that every stage can catch them without importing the modules that
raise them (a stage's DVC dependencies are the modules it imports)."""


class AnnotuneError(Exception):
    """Base of every error a user can fix; the message says what and where."""


class ParamsError(AnnotuneError, ValueError):
    """A params.yaml entry is missing, unknown, of the wrong type or out of range."""


class DataError(AnnotuneError, ValueError):
    """Input data is malformed: the message names the file, row and column."""


class MissingInputError(AnnotuneError, FileNotFoundError):
    """A file or folder a stage needs does not exist (usually: the stage producing it has not run)."""


class FetchError(AnnotuneError, RuntimeError):
    """Raw data could not be fetched or failed its checksum."""


class ModelResolutionError(AnnotuneError, RuntimeError):
    """A model reference (hub id, local folder, pypi:<package>) cannot be resolved."""


class PreflightError(AnnotuneError, RuntimeError):
    """A training run would not fit (memory, time) or cannot start; found before any step runs."""
