"""Which pip packages an --export_format needs beyond the base requirements, asked before
any work (core/config.py) and by the exporter (engine/export_formats.py). No TensorFlow."""

from __future__ import annotations

from core.extras import installed as _installed

# format -> [(module, pip package)] (pinned in requirements-export.txt)
LIBRARIES = {"litert": [("ai_edge_litert", "ai-edge-litert")],
             "onnx": [("tf2onnx", "tf2onnx"), ("onnx", "onnx"),
                      ("onnxruntime", "onnxruntime")]}


def missing_library(fmt: str) -> str | None:
    """The error text when a library `fmt` needs is not installed, else None."""
    missing = [pkg for module, pkg in LIBRARIES.get(fmt, []) if not _installed(module)]
    if not missing:
        return None
    return (f"--export_format={fmt} needs {', '.join(missing)}: pip install "
            f"{' '.join(missing)} (pinned in requirements-export.txt; the package's [interop] "
            "extra)")
