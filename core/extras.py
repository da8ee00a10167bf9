"""The optional parts of the install (the package's extras, `pyproject.toml`) and the one
message a feature gives when the library it needs is missing. No TensorFlow.

    pip install '.[tfds]'        TFDS datasets (--dataset_name=food101, ..., corrupted TFDS sets)
    pip install '.[plots]'       PNG figures of the evaluation and robustness reports
    pip install '.[interop]'     import_weights from .safetensors; --export_format=litert,onnx
    pip install '.[robustness]'  the report's figures + the ImageNet-C reference implementation
                                 (imagecorruptions-imaug: bench/ and tests compare against it)
    pip install '.[test]'        everything the test suite imports

The default paths (training, evaluation, fine-tuning, SavedModel/Keras export, KD, on-the-fly
mCE with the shipped frost textures) need none of them.
"""

from __future__ import annotations

import importlib.util
import sys

DISTRIBUTION = "assembled-cnn"

# extra -> the pip packages this code imports from it (tests/test_packaging.py checks that
# each is listed under that extra in pyproject.toml).
EXTRAS = {
    "tfds": ("tensorflow-datasets",),
    "plots": ("matplotlib",),
    "interop": ("safetensors", "ai-edge-litert", "tf2onnx", "onnx", "onnxruntime"),
    "robustness": ("imagecorruptions-imaug", "matplotlib"),
}


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (None in sys.modules means
    "import fails": how the tests simulate a missing library)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def install_hint(extra: str, *packages: str) -> str:
    """'pip install PKG ... (the [extra] extra)': works in any environment; from a checkout
    `pip install '.[extra]'` installs the whole extra."""
    packages = packages or EXTRAS[extra]
    return f"pip install {' '.join(packages)} (the package's [{extra}] extra)"


def missing(what: str, package: str, extra: str) -> str:
    """The one-line message: '<what> needs <package>, which is not installed: pip install
    ...'."""
    return f"{what} needs {package}, which is not installed: {install_hint(extra, package)}"
