"""What every benchmark report records beside its numbers: versions, machine and date."""

import os
import platform
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict:
    import keras
    import tensorflow as tf

    return {"versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                         "python": platform.python_version()},
            "machine": {"platform": platform.platform(), "cpu": cpu_model(),
                        "cpu_count": os.cpu_count()},
            "date": time.strftime("%Y-%m-%d")}
