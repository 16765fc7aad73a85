"""The one error of parameters (kept apart so the config package's modules share it without an import cycle)."""


class ParamError(ValueError):
    """A parameter is wrong. The message names the key and what is expected."""
