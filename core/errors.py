"""Errors that end a run with one readable line and a non-zero exit code.

`main_classification.py` catches `UserError` subclasses, prints `error: <message>` on one
line to stderr and exits with `exit_code`; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input or an unusable run state; the message names the flag, file or key."""

    exit_code = 2


class ConfigError(UserError):
    """A bad flag value, preset key or inconsistent combination."""


class RunDirError(UserError):
    """model_dir cannot be used (unwritable, nothing to evaluate, ...)."""


class FinetuneError(UserError):
    """The pretrained checkpoint is missing or does not match the network."""


class TrainingDiverged(UserError):
    """The loss became NaN/inf; the last good checkpoint is kept as it was."""

    exit_code = 3


class Preempted(UserError):
    """SIGTERM/SIGINT: a checkpoint was saved at the next step boundary; running the same
    command again resumes. Exit code 75 (EX_TEMPFAIL of sysexits.h: try again)."""

    exit_code = 75
