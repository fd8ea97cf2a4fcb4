"""Errors that carry a message telling the user what to change.

Every bad input raises a ``ValueError`` (or one of the subclasses below), never a silent NaN.
"""


class InputError(ValueError):
    """An image, tensor or parameter the user supplied cannot be used as given."""


class WeightsUnavailableError(ValueError):
    """A model's weights are neither bundled, cached, nor given as a local file."""


class UnsupportedError(ValueError):
    """The requested combination (e.g. LRP on a vision transformer) is not supported."""
