"""One error family. Every message names the file, the config key or the op at fault."""


class LightSRError(Exception):
    """Base class of every error lightsr raises on purpose (user mistakes, bad input)."""


class ConfigError(LightSRError):
    """A configuration value is missing, unknown, of the wrong type or out of range.

    ``key`` is the dotted/indexed path of the value, e.g. ``lq[2].sigma``.
    """

    def __init__(self, key, message):
        self.key, self.detail = key, message
        super().__init__(f"{key}: {message}" if key else message)


class ImageError(LightSRError):
    """An image file cannot be read or written."""

    def __init__(self, path, message):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class OpError(LightSRError):
    """A degradation op failed on its input or parameters."""

    def __init__(self, op, message):
        self.op = op
        super().__init__(f"op '{op}': {message}")


class JobError(LightSRError):
    """A long job (dataset generation, ...) cannot start or continue as asked."""
