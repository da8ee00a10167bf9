"""The one exception type of `datasets/`: bad data input, reported on one readable line.

Every message names the file, directory, glob pattern or key at fault, e.g.
``no TFRecord shard matches /data/food101/train-*``. Newlines in a message are folded
into ``"; "`` so that a CLI can print ``error: <message>`` as a single stderr line.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad dataset input (missing path, no shard, unknown class or dataset, bad labels)."""

    exit_code = 2  # what a CLI exits with after printing the message

    def __init__(self, message: str):
        lines = [part.strip() for part in str(message).splitlines() if part.strip()]
        super().__init__("; ".join(lines) if lines else "data error")
