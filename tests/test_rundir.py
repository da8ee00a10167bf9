"""The run directory is the single source of truth (issue 14): every mode on an existing run
needs only --model_dir; contradictions, other data and bad values are one-line errors that
write nothing; the typed config; the original's flags; the import direction."""

import ast
import glob
import json
import os

import pytest
import tensorflow as tf
from conftest import ROOT
from test_bad_input import main  # the CLI in a subprocess

from core import config
from core.errors import ConfigError, RunDirError
from core.rundir import RunDir, open_source
from core.settings import SETTINGS
from datasets import digits as digits_lib
from datasets.build_tfrecords import make_example
from engine import trainer

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
            steps_per_loop=4, lr_warmup_epochs=0.0, train_epochs=1, max_train_steps=2,
            preprocessing_type="small_16")
PRESET = """# A user's preset for a dataset of their own (the Imagewoof report, shrunk).
resnet_size: 18
base_width: 4
stem_type: small
preprocessing_type: small_16
batch_size: 32
val_batch_size: 128
train_epochs: 1
max_train_steps: 2
lr_warmup_epochs: 0
use_resnet_d: true
"""
# Every flag of the original main_classification.py (nets/run_loop_classification.py,
# nets/hparams_config.py, official/utils/flags/_base, _performance, _misc, _benchmark, and
# preprocessing/inception_preprocessing.py, which it imports): 86.
ORIGINAL_FLAGS = """
all_reduce_alg anti_alias_filter_size anti_alias_type arc_m arc_s autoaugment_type
base_learning_rate batch_size benchmark_log_dir benchmark_logger_type benchmark_test_id
bigquery_data_set bigquery_metric_table bigquery_run_status_table bigquery_run_table bl_alpha
bl_beta bn_momentum clean cls_loss_type data_dir data_format dataset_name dct_method
dropblock_kp dtype embedding_size end_learning_rate epochs_between_evals eval_only
eval_similarity export_decoder_type export_dir export_only gcp_project hooks
inter_op_parallelism_threads intra_op_parallelism_threads kd_temp keep_checkpoint_max
keep_ckpt_every_eval label_file label_smoothing learning_rate_decay_factor
learning_rate_decay_type logit_type loss_scale lr_warmup_epochs max_train_steps mixup_type
model_dir momentum no_downsample num_best_ckpt_to_keep num_epochs_per_decay num_gpus
piecewise_lr_boundary_epochs piecewise_lr_decay_rates pool_type preprocessing_type
pretrained_model_checkpoint_path ratio_fine_eval recall_at_k resnet_size resnet_version
save_checkpoints_epochs stop_threshold train_epochs train_regex training_random_crop
use_dropblock use_hyperdash use_ranking_loss use_resnet_d use_se_block use_sk_block
use_synthetic_data val_batch_size val_regex weight_decay with_drawing_bbox zero_gamma
zeroshot_eval cb_distortion_range cr_distortion_range use_fast_color_distort""".split()


def error_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def snapshot(directory):
    """{relative path: bytes} of every file under directory."""
    out = {}
    for path in glob.glob(os.path.join(directory, "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def write_tfrecords(folder, num_classes=10, limit=None):
    """The digits as TFRecords (labels mod num_classes) with a labels.txt."""
    train, evaluation = digits_lib.load_digits_splits()
    os.makedirs(folder, exist_ok=True)
    for split, data in (("train", train), ("validation", evaluation)):
        n = min(limit or len(data.labels), len(data.labels))
        with tf.io.TFRecordWriter(os.path.join(folder, f"{split}-00000-of-00001")) as w:
            for i in range(n):
                label = int(data.labels[i]) % num_classes
                w.write(make_example(data.encoded[i], label, f"c{label}", data.filenames[i],
                                     32, 32, "png").SerializeToString())
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("".join(f"woof_{c}\n" for c in range(num_classes)))
    return folder


@pytest.fixture(scope="module")
def woof(tmp_path_factory):
    return write_tfrecords(str(tmp_path_factory.mktemp("woof") / "imagewoof"))


def test_eval_only_with_only_model_dir_on_a_preset_trained_run(tmp_path, woof):
    preset = tmp_path / "woof.yaml"
    preset.write_text(PRESET)
    run = str(tmp_path / "run")
    proc = main(f"--config={preset}", f"--dataset_name={woof}", f"--model_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    before = snapshot(run)

    # The reported command: a traceback before, now the run's network on the run's data.
    proc = main(f"--model_dir={run}", "--eval_only")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"TFRecords in {woof}" in proc.stdout and "final: top-1" in proc.stdout
    after = snapshot(run)
    for name in ("config.yaml", "metrics.jsonl", "labels.txt"):
        assert after[name] == before[name]
    assert [k for k in after if k.startswith("eval/")] == [k for k in before
                                                          if k.startswith("eval/")]
    namespace = os.path.join(run, "eval_only", "imagewoof")
    records = [json.loads(line) for line in open(os.path.join(namespace, "metrics.jsonl"))]
    assert records[-1]["checkpoint"].endswith("ckpt-2") and records[-1]["count"] == 360
    assert os.path.getsize(os.path.join(namespace, "reliability.png")) > 1000
    history = [json.loads(line) for line in open(os.path.join(run, "history.jsonl"))]
    assert history[-1]["mode"] == "eval" and history[-1]["argv"][-1] == "--eval_only"

    # A contradicting architecture flag: one line naming both values, nothing written.
    before = snapshot(run)
    proc = main(f"--model_dir={run}", "--eval_only", "--resnet_size=50", "--base_width=64")
    line = error_line(proc)
    assert "--resnet_size=50 contradicts the run's resnet_size=18" in line
    assert os.path.join(run, "config.yaml") in line
    assert snapshot(run) == before

    # Other data with the same class count: allowed, said, and kept apart.
    proc = main(f"--model_dir={run}", "--eval_only", "--dataset_name=digits")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "data settings other than the run's: dataset_name" in proc.stdout
    assert os.path.isfile(os.path.join(run, "eval_only", "digits", "metrics.jsonl"))
    assert open(os.path.join(run, "metrics.jsonl"), "rb").read() == before["metrics.jsonl"]


def test_other_data_with_another_class_count_is_refused(tmp_path, woof):
    run = str(tmp_path / "run")
    trainer.run(config.make_config(dataset_name=woof, model_dir=run,
                                   **TINY))
    three = write_tfrecords(str(tmp_path / "three"), num_classes=3, limit=64)
    before = snapshot(run)
    cfg = config.make_config(model_dir=run, eval_only=True, dataset_name=three)
    with pytest.raises(ConfigError, match="has 3 classes but the network of .* predicts 10"):
        trainer.run(cfg)
    assert snapshot(run) == before


def test_fp16_dropblock_run_evaluates_without_repeating_flags(tmp_path):
    run = str(tmp_path / "run")
    trained = trainer.run(config.make_config(model_dir=run, dtype="fp16", use_dropblock=True,
                                             **TINY))
    cfg = config.make_config(model_dir=run, eval_only=True)
    assert (cfg["dtype"], cfg["use_dropblock"]) == ("fp16", True)  # from the run
    result = trainer.run(cfg)
    assert result["top1"] == pytest.approx(trained["top1"], abs=1e-6)
    # Training-only flags given to an evaluation are ignored and listed, not an error.
    cfg = config.make_config(model_dir=run, eval_only=True, dtype="fp32",
                             use_dropblock=False, base_learning_rate=3.0)
    assert sorted(cfg["ignored"]) == ["base_learning_rate", "dtype", "use_dropblock"]
    assert (cfg["dtype"], cfg["use_dropblock"]) == ("fp16", True)


def test_config_is_written_once_and_changes_go_to_the_history(tmp_path):
    run = str(tmp_path / "run")
    trainer.run(config.make_config(model_dir=run, **TINY))
    stored = open(os.path.join(run, "config.yaml")).read()
    cfg = config.make_config(model_dir=run, **{**TINY, "max_train_steps": 4,
                                               "base_learning_rate": 0.05})
    assert cfg["changed"] == {"max_train_steps": [2, 4], "base_learning_rate": [0.1, 0.05]}
    trainer.run(cfg)
    assert open(os.path.join(run, "config.yaml")).read() == stored
    history = [json.loads(line) for line in open(os.path.join(run, "history.jsonl"))]
    assert history[-1]["mode"] == "train"
    assert history[-1]["changed"]["base_learning_rate"] == [0.1, 0.05]


@pytest.mark.parametrize("keep, expected", [(0, 3), (1, 1)])
def test_keep_checkpoint_max_zero_keeps_all(tmp_path, keep, expected):
    run = str(tmp_path / "run")
    trainer.run(config.make_config(model_dir=run, **{**TINY, "max_train_steps": 0,
                                                     "batch_size": 256, "train_epochs": 3,
                                                     "keep_checkpoint_max": keep}))
    assert len(glob.glob(os.path.join(run, "ckpt-*.index"))) == expected


def test_eval_only_with_export_dir_exports_with_class_names(tmp_path, woof):
    run = str(tmp_path / "run")
    trainer.run(config.make_config(dataset_name=woof, model_dir=run,
                                   **TINY))
    export_dir = str(tmp_path / "export")
    result = trainer.run(config.make_config(model_dir=run, eval_only=True,
                                            export_dir=export_dir))
    assert result["export"]["match"]
    assert os.path.isfile(os.path.join(export_dir, "saved_model.pb"))
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures["serving_default"](
        tf.constant([digits_lib.load_digits_splits()[1].encoded[0]]))
    names = [n.decode() for n in out["class_names"].numpy().ravel()]
    assert names and set(names) <= {f"woof_{c}" for c in range(10)}  # the run's labels.txt


def test_checkpoint_precedence_and_foreign_prefixes(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for run in (a, b):
        trainer.run(config.make_config(model_dir=run, **TINY))
    run = RunDir.open(a)
    assert run.checkpoint("latest") == os.path.join(a, "ckpt-2")
    assert run.checkpoint("auto") == os.path.join(a, "best", "ckpt-2")  # best/ first
    assert open_source(a, "--teacher")[1] == os.path.join(a, "best", "ckpt-2")
    assert open_source(os.path.join(a, "ckpt-2"), "--teacher")[1] == os.path.join(a, "ckpt-2")
    with pytest.raises(RunDirError, match="is not a checkpoint of"):
        run.checkpoint(os.path.join(b, "ckpt-2"), "--eval_checkpoint")


def test_refused_flags_and_off_features_are_validated():
    with pytest.raises(ConfigError, match="--use_hyperdash: the original's flag is not "
                                          "supported here"):
        config.make_config(use_hyperdash=True)
    # Checked although DropBlock / mixup / t-ReX are off.
    for key, value, message in (("dropblock_kp", "0.9,2", "--dropblock_kp must be <= 1"),
                                ("label_smoothing", 1.5, "--label_smoothing must be"),
                                ("memory_ema", 1.0, "--memory_ema must be < 1")):
        with pytest.raises(ConfigError, match=message):
            config.make_config(**{key: value})


def test_defaults_are_the_original_s_and_small_images_get_a_profile(tmp_path):
    big = config.make_config(dataset_name="imagenet", model_dir=str(tmp_path / "a"))
    assert (big["resnet_size"], big["base_width"], big["stem_type"], big["bn_momentum"],
            big["batch_size"], big["train_epochs"], big["defaults_profile"]) == \
        (50, 64, "default", 0.997, 32, 90, "original")
    small = config.make_config(model_dir=str(tmp_path / "b"))  # the embedded digits
    assert (small["resnet_size"], small["base_width"], small["stem_type"],
            small["defaults_profile"]) == (18, 16, "small", "small_images")
    assert config.make_config(keep_checkpoint_max=0, model_dir=str(tmp_path / "c"))[
        "keep_checkpoint_max"] == 0


def test_every_original_flag_is_implemented_or_refused_with_a_reason():
    assert len(set(ORIGINAL_FLAGS)) == 86
    missing = [name for name in ORIGINAL_FLAGS if name not in SETTINGS]
    assert not missing
    refused = [s for s in SETTINGS.values() if s.role == "refused"]
    assert refused and all(s.refused and len(s.refused) > 20 for s in refused)
    assert {s.name for s in refused} <= set(ORIGINAL_FLAGS)


def _imports(package):
    """{module file: set of top-level packages it imports} for a package folder."""
    out = {}
    for path in glob.glob(os.path.join(ROOT, package, "**", "*.py"), recursive=True):
        tree = ast.parse(open(path).read())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        out[os.path.relpath(path, ROOT)] = names
    return out


@pytest.mark.parametrize("package, forbidden", [
    ("nets", {"tensorflow", "engine", "kd", "core", "datasets", "preprocessing"}),
    ("core", {"engine", "kd"}),
    ("kd", {"engine"}),
    ("preprocessing", {"engine", "kd", "core", "datasets"}),
    ("datasets", {"engine", "kd", "core"}),
])
def test_imports_point_downwards(package, forbidden):
    bad = {f: sorted(names & forbidden) for f, names in _imports(package).items()
           if names & forbidden}
    assert not bad
