"""Lint gates run by the test suite (and so by CI): ``ruff check`` with pyproject.toml's
rules, and type hints on every public function of the installed packages.

"Public": a module-level function or a method of a module-level class whose name does not
start with ``_`` (``__init__`` included: its parameters are the class's public interface),
in a module whose name does not start with ``_``.  Every parameter but ``self``/``cls`` and
the return (not for ``__init__``) need an annotation.  Run it on some paths with
``python tests/test_lint.py core nets`` to list what is missing there.
"""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: What ``pip install .`` installs (pyproject.toml [tool.setuptools]).
PACKAGES = ("core", "datasets", "engine", "kd", "mce", "nets", "preprocessing")
MODULES = ("main_classification.py", "import_weights.py")


def _public_functions(tree):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                        not item.name.startswith("_") or item.name == "__init__"):
                    yield f"{node.name}.{item.name}", item, True


def missing_annotations(path: pathlib.Path) -> list[str]:
    """'file:line name: what' for each public function of ``path`` lacking a hint."""
    out = []
    for name, fn, is_method in _public_functions(ast.parse(path.read_text())):
        args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
        if is_method and args and args[0].arg in ("self", "cls"):
            args = args[1:]
        missing = [a.arg for a in args if a.annotation is None]
        missing += [f"*{a.arg}" for a in (fn.args.vararg,) if a and a.annotation is None]
        missing += [f"**{a.arg}" for a in (fn.args.kwarg,) if a and a.annotation is None]
        if fn.returns is None and fn.name != "__init__":
            missing.append("return")
        if missing:
            rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            out.append(f"{rel}:{fn.lineno} {name}: {', '.join(missing)}")
    return out


def library_files(roots=PACKAGES + MODULES) -> list[pathlib.Path]:
    files = []
    for root in roots:
        p = ROOT / root
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return [f for f in files if not f.name.startswith("_") or f.name == "__init__.py"]


def test_public_functions_have_type_hints():
    gaps = [line for f in library_files() for line in missing_annotations(f)]
    assert not gaps, f"{len(gaps)} public functions without full type hints:\n" + "\n".join(
        gaps[:50])


def test_missing_annotation_is_reported(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("def f(x: int) -> int:\n    return x\n\n\ndef g(x, *a, **k):\n    pass\n\n\n"
                   "def _private(x):\n    pass\n\n\nclass C:\n    def __init__(self, y):\n"
                   "        pass\n\n    def m(self, z: int):\n        pass\n")
    assert missing_annotations(src) == [
        f"{src}:5 g: x, *a, **k, return", f"{src}:14 C.__init__: y", f"{src}:17 C.m: return"]


def test_ruff_passes():
    ruff = shutil.which("ruff") or pytest.skip("ruff is not installed (requirements-test.txt)")
    proc = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


if __name__ == "__main__":
    found = [line for f in library_files(tuple(sys.argv[1:]) or PACKAGES + MODULES)
             for line in missing_annotations(f)]
    print("\n".join(found) or "all public functions annotated")
    print(f"{len(found)} missing", file=sys.stderr)
