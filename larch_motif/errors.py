"""Errors of larch_motif that a user can act on.

Every problem caused by input (a file, a parameter, a database or model file) raises a subclass
of ``LarchMotifError``; the command line prints its message on one line and exits non-zero.
"""


class LarchMotifError(ValueError):
    """A problem with the user's input, named in the message."""


class SpectrumError(LarchMotifError):
    """A spectrum that cannot be read or preprocessed."""


class DatabaseError(LarchMotifError):
    """A database file that is not ours, is corrupted, or is in use by another build."""


class ModelFileError(LarchMotifError):
    """A model file that is foreign, tampered with, or from an incompatible version."""


class CalculationError(RuntimeError):
    """A spectrum calculation that failed (crashed, timed out, or wrote no spectrum)."""
