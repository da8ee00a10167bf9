"""`main_classification.py --help`: the project's flags grouped by topic with defaults, the
usage examples one per line (core/help.py)."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from core import help as help_page
from core.settings import SETTINGS


def _run(*args):
    return subprocess.run([sys.executable, "main_classification.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="100"))


def test_every_setting_has_a_topic():
    for s in SETTINGS.values():
        assert (help_page.topic_of(s) is None) == (s.role == "refused"), s.name


@pytest.fixture(scope="module")
def page():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_groups_every_flag_by_topic_with_its_default(page):
    titles = [t for t, _ in help_page.TOPICS]
    at = [page.index(f"\n{t}:\n") for t in titles]
    assert at == sorted(at)  # every topic, in order
    bounds = dict(zip(titles, zip(at, at[1:] + [page.index("\nFlags of the original")])))
    for s in SETTINGS.values():
        if s.role == "refused":
            assert f"--{s.name}," in page or page.rstrip().count(f"--{s.name}") == 1
            continue
        entries = [m.start() for m in re.finditer(rf"\n  --{s.name}  \(default ", page)]
        assert len(entries) == 1, s.name
        lo, hi = bounds[help_page.topic_of(s)]
        assert lo < entries[0] < hi, s.name
    assert "\n  --autoaugment_magnitudes  (default relative; relative|original)\n" in page
    assert "\n  --batch_size  (default 32)\n" in page
    section = page[bounds["Augmentation and regularisation"][0]:]
    assert section.index("--autoaugment_magnitudes") < section.index("\nOptimisation")


def test_examples_render_as_lines_and_lines_fit(page):
    lines = page.splitlines()
    assert "        --data_dir /data/imagenet-tfrecords --model_dir /runs/r50 \\" in lines
    assert any(line.strip().startswith("--robustness on_the_fly") for line in lines)
    assert max(len(line) for line in lines) <= 100


def test_short_forms_and_helpfull():
    assert _run("-h").stdout == _run("--help").stdout
    full = _run("--helpfull")  # absl's page, which exits 1 by absl's design
    assert "--autoaugment_magnitudes" in full.stdout and "--helpfull" in full.stdout
