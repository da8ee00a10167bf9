"""The package (pyproject.toml): console scripts, package list, licences, dependencies and
the shipped frost textures. Offline; the wheel build (about 10 s) needs setuptools >= 77
in the test environment and is skipped without it."""

import ast
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from core import console, extras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Directories with Python files that are deliberately not installed.
NOT_INSTALLED = {"tests": "the test suite", "bench": "benchmarks of the checkout"}
# Installed packages holding data only (no Python; namespace packages).
DATA_PACKAGES = {"preprocessing.corruptions.frost"}
SKIPPED_DIRS = {".git", ".venv", "build", "dist", "__pycache__", "runs", "results", "configs",
                "scripts", ".ci"}
FROST = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
# Third-party modules the installed code imports -> the distribution that provides them.
CORE_MODULES = {"tensorflow": "tensorflow", "keras": "keras", "absl": "absl-py",
                "yaml": "PyYAML", "numpy": "numpy", "sklearn": "scikit-learn",
                "scipy": "scipy", "threadpoolctl": "threadpoolctl", "PIL": "pillow",
                # hparams (engine/tensorboard.py); tf.summary needs it too, and TensorFlow
                # 2.21 does not install it.
                "tensorboard": "tensorboard"}
OPTIONAL_MODULES = {"tensorflow_datasets": "tensorflow-datasets", "matplotlib": "matplotlib",
                    "safetensors": "safetensors", "ai_edge_litert": "ai-edge-litert",
                    "onnx": "onnx", "onnxruntime": "onnxruntime", "tf2onnx": "tf2onnx",
                    # .pth files only; the message says how to install it (no extra: the
                    # default PyPI wheel brings CUDA).
                    "torch": None}


@pytest.fixture(scope="module")
def project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _requirement_name(req: str) -> str:
    name = req
    for stop in "[<>=!~; ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def _installed_files(project):
    """{dotted module name: path} of every module the wheel installs."""
    setup = project["tool"]["setuptools"]
    files = {m: os.path.join(ROOT, m + ".py") for m in setup["py-modules"]}
    for package in setup["packages"]:
        folder = os.path.join(ROOT, *package.split("."))
        for name in os.listdir(folder):
            if name.endswith(".py"):
                module = package if name == "__init__.py" else f"{package}.{name[:-3]}"
                files[module] = os.path.join(folder, name)
    return files


# ------------------------------------------------------------------ console scripts
def test_console_scripts_are_the_documented_ones(project):
    scripts = project["project"]["scripts"]
    assert scripts == {name: target for name, (_, target) in console.SCRIPTS.items()}
    assert all(name.startswith(console.PREFIX) for name in scripts)
    for name in ("assembled-train", "assembled-predict", "assembled-build-tfrecords",
                 "assembled-build-fgvc", "assembled-build-corrupted",
                 "assembled-extract-logits", "assembled-reinforce",
                 "assembled-transfer-suite", "assembled-import-weights", "assembled-export"):
        assert name in scripts, name


def test_console_scripts_point_at_functions_of_installed_modules(project):
    """Without importing: each target module is installed and defines the function at top
    level, taking no required argument (console scripts call it with none)."""
    files = _installed_files(project)
    for name, target in project["project"]["scripts"].items():
        module, attr = target.split(":")
        assert module in files, (name, module)
        tree = ast.parse(open(files[module]).read())
        defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert attr in defs, (name, target)
        args = defs[attr].args
        assert len(args.args) == len(args.defaults), (name, target, "required arguments")


def test_console_script_targets_import_and_are_callable(project):
    """Imported here: TensorFlow is loaded already (conftest), and the modules define absl
    flags only when their CLI runs (main_classification's, once per process)."""
    import importlib
    for name, target in project["project"]["scripts"].items():
        module, attr = target.split(":")
        assert callable(getattr(importlib.import_module(module), attr, None)), (name, target)


def test_program_name_is_the_console_script(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/assembled-import-weights", "--help"])
    assert console.prog("import_weights.py") == "assembled-import-weights"
    monkeypatch.setattr(sys, "argv", ["assembled-train.exe"])  # Windows launcher
    assert console.running_script() == "assembled-train"
    monkeypatch.setattr(sys, "argv", ["import_weights.py"])
    assert console.prog("import_weights.py") == "import_weights.py"


def test_train_and_export_help_name_the_console_script(monkeypatch):
    import main_classification
    monkeypatch.setattr(sys, "argv", ["/venv/bin/assembled-train", "--help"])
    usage = main_classification._usage()
    assert "assembled-train --config" in usage and "python main_classification.py" not in usage
    monkeypatch.setattr(sys, "argv", ["/venv/bin/assembled-export", "--help"])
    assert main_classification._usage().splitlines()[2].startswith(
        "    assembled-export --model_dir=RUN --export_dir=DIR")
    monkeypatch.setattr(sys, "argv", ["main_classification.py"])
    assert main_classification._usage() == main_classification.__doc__


def test_export_script_runs_main_classification_with_export_only(monkeypatch):
    import main_classification
    seen = []
    monkeypatch.setattr(main_classification.app, "run",
                        lambda main, flags_parser: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["assembled-export", "--model_dir=r", "--export_dir=e"])
    main_classification.export_cli()
    assert seen == [["assembled-export", "--export_only", "--model_dir=r", "--export_dir=e"]]


# ------------------------------------------------------------------ packages and data
def test_package_list_covers_every_python_directory(project):
    setup = project["tool"]["setuptools"]
    packages = set(setup["packages"])
    found = set()
    for folder, dirs, files in os.walk(ROOT):
        rel = os.path.relpath(folder, ROOT)
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")
                   and not (rel == "." and d in NOT_INSTALLED)
                   and not d.endswith(".egg-info")]
        if rel != "." and any(f.endswith(".py") for f in files):
            found.add(rel.replace(os.sep, "."))
    assert found == packages - DATA_PACKAGES, (sorted(found - packages),
                                               sorted(packages - DATA_PACKAGES - found))
    assert DATA_PACKAGES <= set(setup["package-data"])
    for package in packages - DATA_PACKAGES:
        assert os.path.isfile(os.path.join(ROOT, *package.split("."), "__init__.py")), package
    top_modules = {f[:-3] for f in os.listdir(ROOT) if f.endswith(".py")}
    assert top_modules == set(setup["py-modules"])
    for folder in NOT_INSTALLED:
        assert folder not in {p.split(".")[0] for p in packages}


def test_frost_textures_are_package_data(project):
    from preprocessing.corruptions import weather
    globs = project["tool"]["setuptools"]["package-data"]["preprocessing.corruptions.frost"]
    assert os.path.dirname(weather.FROST_DIR) == os.path.join(ROOT, "preprocessing",
                                                               "corruptions")
    for name in FROST + ("LICENSE", "NOTICE"):
        assert os.path.isfile(os.path.join(weather.FROST_DIR, name)), name
        assert any(g == name or (g.startswith("*") and name.endswith(g[1:]))
                   for g in globs), name
    assert weather._FROST_FILES == FROST
    assert set(project["project"]["license-files"]) >= {
        "LICENSE", "NOTICE", "preprocessing/corruptions/frost/LICENSE",
        "preprocessing/corruptions/frost/NOTICE"}


def test_frost_textures_are_the_reference_packages_files():
    """Byte for byte the files of imagecorruptions-imaug (found without importing it, which
    would import OpenCV); skipped where it is not installed."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("imagecorruptions-imaug is not installed (requirements-test.txt)")
    theirs = os.path.join(list(spec.submodule_search_locations)[0], "frost")
    from preprocessing.corruptions import weather
    for name in FROST:
        digests = [hashlib.sha256(open(os.path.join(d, name), "rb").read()).hexdigest()
                   for d in (theirs, weather.FROST_DIR)]
        assert digests[0] == digests[1], name


# ------------------------------------------------------------------ licences
def test_license_and_notice():
    text = open(os.path.join(ROOT, "LICENSE")).read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 11000
    notice = open(os.path.join(ROOT, "NOTICE")).read()
    for credit in ("clovaai/assembled-cnn", "apple/ml-dr", "Random-Mixup", "naver/trex",
                   "hendrycks/robustness", "imagecorruptions", "NAVER Corp.", "Apple Inc.",
                   "Dan Hendrycks", "MIT license", "CC BY-NC-SA 4.0"):
        assert credit in notice, credit
    frost = os.path.join(ROOT, "preprocessing", "corruptions", "frost")
    assert "Apache License" in open(os.path.join(frost, "LICENSE")).read()
    assert "Dan Hendrycks" in open(os.path.join(frost, "NOTICE")).read()


# ------------------------------------------------------------------ dependencies
def test_extras_named_in_messages_are_in_pyproject(project):
    optional = project["project"]["optional-dependencies"]
    for extra, packages in extras.EXTRAS.items():
        listed = {_requirement_name(r) for r in optional[extra]}
        for package in packages:
            assert _requirement_name(package) in listed, (extra, package)
    for extra in ("tfds", "plots", "interop", "robustness", "test"):
        assert extra in optional, extra
    name = project["project"]["name"]

    def resolved(extra):  # an extra with the package's own extras expanded
        out = set()
        for req in optional[extra]:
            if _requirement_name(req) == name:
                for inner in req.split("[", 1)[1].split("]")[0].split(","):
                    out |= resolved(inner.strip())
            else:
                out.add(_requirement_name(req))
        return out
    assert {"pytest", "pytest-xdist", "imagecorruptions-imaug", "matplotlib",
            "tensorflow-datasets", "safetensors", "torch", "timm", "opencv-python",
            "scikit-image"} <= resolved("test")


def test_installed_code_imports_only_declared_dependencies(project):
    """Top-level imports: the standard library, the package itself and the core
    dependencies. Optional libraries only inside functions (imported when the feature runs,
    with one error line naming the extra when missing), each from an extra."""
    files = _installed_files(project)
    local = {m.split(".")[0] for m in files}
    core = {_requirement_name(r) for r in project["project"]["dependencies"]}
    optional = {_requirement_name(r) for reqs in
                project["project"]["optional-dependencies"].values() for r in reqs}
    assert {d.lower() for d in CORE_MODULES.values()} == core
    for module, path in sorted(files.items()):
        tree = ast.parse(open(path).read())
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in local or top in sys.stdlib_module_names or top == "__future__":
                    continue
                where = f"{module}:{node.lineno} imports {top}"
                if top in CORE_MODULES:
                    continue
                assert top in OPTIONAL_MODULES, where + " (not a declared dependency)"
                assert id(node) not in top_level, where + " at module level (optional)"
                dist = OPTIONAL_MODULES[top]
                assert dist is None or dist.lower() in optional, where


def test_requirements_test_installs_the_test_imports():
    """CI installs requirements-test.txt: it (with the files it includes) lists every
    third-party distribution the tests import directly."""
    def read(name):
        out = set()
        for line in open(os.path.join(ROOT, name)):
            line = line.split("#")[0].strip()
            if line.startswith("-r "):
                out |= read(line[3:].strip())
            elif line:
                out.add(_requirement_name(line))
        return out
    pinned = read("requirements-test.txt")
    for dist in ("imagecorruptions-imaug", "opencv-python", "scikit-image", "matplotlib",
                 "tensorflow-datasets", "pytest", "pytest-xdist", "torch", "torchvision",
                 "timm", "safetensors", "scipy", "pyyaml", "pillow", "numpy"):
        assert dist in pinned, dist
    assert "imagecorruptions-imaug" not in read("requirements.txt")


# ------------------------------------------------------------------ the wheel
def _setuptools_version():
    try:
        from importlib.metadata import version
        return tuple(int(p) for p in version("setuptools").split(".")[:2])
    except Exception:  # noqa: BLE001 -- not installed or an odd version string
        return (0, 0)


@pytest.mark.slow
def test_wheel_holds_the_packages_textures_licences_and_scripts(project, tmp_path):
    if _setuptools_version() < (77, 0):
        pytest.skip("the offline wheel build needs setuptools >= 77 in this environment")
    # Built from a copy: an in-tree build writes build/ and *.egg-info/ into the checkout,
    # under the feet of tests running beside this one (and of `git status`).
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", ".pytest_cache", "build", "dist", "*.egg-info",
        "runs"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--no-index", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
        env=dict(os.environ, PIP_NO_INPUT="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in FROST + ("LICENSE", "NOTICE", "README.md"):
        assert f"preprocessing/corruptions/frost/{name}" in names, name
    assert {"main_classification.py", "import_weights.py"} <= names
    for package in set(project["tool"]["setuptools"]["packages"]) - DATA_PACKAGES:
        assert package.replace(".", "/") + "/__init__.py" in names, package
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    info = {n.split("/", 1)[1]: n for n in names if ".dist-info/" in n}
    assert "licenses/LICENSE" in info and "licenses/NOTICE" in info
    entry_points = zipfile.ZipFile(wheel).read(info["entry_points.txt"]).decode()
    for name, target in project["project"]["scripts"].items():
        assert f"{name} = {target}" in entry_points, name
