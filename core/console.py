"""The installed console scripts (``pyproject.toml`` [project.scripts], all named
``assembled-*``) and the program name a usage line shows. No TensorFlow.

Each script calls the same entry the checkout runs (``python main_classification.py``,
``python -m kd.reinforce``, ...), with the same flags, output and exit codes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

from absl import flags

PREFIX = "assembled-"

# console script -> (the checkout's command, "module:callable" it runs when installed)
SCRIPTS = {
    "assembled-train": ("python main_classification.py", "main_classification:cli"),
    "assembled-export": ("python main_classification.py --export_only",
                         "main_classification:export_cli"),
    "assembled-predict": ("python -m engine.predict", "engine.predict:main"),
    "assembled-build-tfrecords": ("python -m datasets.build_tfrecords",
                                  "datasets.build_tfrecords:cli"),
    "assembled-build-fgvc": ("python -m datasets.build_fgvc", "datasets.build_fgvc:cli"),
    "assembled-build-corrupted": ("python -m datasets.build_corrupted",
                                  "datasets.build_corrupted:cli"),
    "assembled-extract-logits": ("python -m kd.extract_logits", "kd.extract_logits:main"),
    "assembled-reinforce": ("python -m kd.reinforce", "kd.reinforce:main"),
    "assembled-transfer-suite": ("python -m engine.transfer_suite",
                                 "engine.transfer_suite:cli"),
    "assembled-import-weights": ("python import_weights.py", "import_weights:main"),
}


def running_script() -> str | None:
    """The console script this process runs as (``sys.argv[0]``'s name), else None."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    name = re.sub(r"(\.exe|-script\.pyw?)$", "", name)  # Windows launchers
    return name if name in SCRIPTS else None


def prog(default: str) -> str:
    """The program name for a usage line: the console script's name when run as one, else
    ``default`` (how the checkout runs it)."""
    return running_script() or default


# Libraries whose absl flags a help page leaves out.
LIBRARY_MODULES = ("absl", "tensorflow", "keras", "tensorboard", "tf_keras")
HELP_FLAGS = ("--help", "-help", "-h", "--helpshort", "-?")


def wants_help(argv: Sequence[str]) -> bool:
    return any(arg in HELP_FLAGS for arg in list(argv)[1:])


def help_text(doc: str, flag_values: flags.FlagValues) -> str:
    """A CLI's help page: its module doc (examples naming the console script when run as
    one) and its absl flags (absl's own left out)."""
    text = (doc or "").strip()
    script = running_script()
    if script:
        text = text.replace(SCRIPTS[script][0], script)
    parts = [text, "", "Flags:"]
    for module, defined in flag_values.flags_by_module_dict().items():
        # absl files the flags of __main__ under sys.argv[0]: leave out the libraries'.
        if module.split(".")[0] in LIBRARY_MODULES or not defined:
            continue
        parts.append(flag_values.module_help(module).split("\n", 1)[-1])
    return "\n".join(parts).rstrip() + "\n"
