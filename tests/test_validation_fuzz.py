"""Every setting validated up front (issue 15, part 6): each setting refuses values of the
wrong type, out of range, NaN/inf and unknown choices with a ConfigError naming it, whether
its feature is on or off; absurd networks are refused from their computed parameter count
before anything is allocated; values that only the data can bound (shuffle buffer, eval
batch, the dataset's class count) are checked once the source is resolved; and the crashes
of the flag-fuzz audit end in one `error:` line from main_classification.py."""

import glob
import math
import os
import re
import resource
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from core import config
from core.errors import ConfigError
from core.settings import SETTINGS, Setting

NAMES = [n for n, s in SETTINGS.items() if s.role != "refused"]
HUGE = 10 ** 30


def _bad_numbers(s: Setting, integer: bool) -> list:
    out = []
    if s.low is not None:
        out.append(s.low if s.low_open else (s.low - 1 if integer else s.low - 0.5))
    if s.high is not None:
        out.append(s.high if s.high_open else (s.high + 1 if integer else s.high * 2 + 1))
    if s.choices:  # an int with choices (resnet_size, resnet_version)
        out.append(max(s.choices) + 1)
    return out + [-HUGE, HUGE]


def bad_values(s: Setting) -> list:
    """Values that must be refused, from the setting's kind, range and choices."""
    if s.kind == "int":
        return ["abc", "", 1.5, True, float("nan"), float("inf"), [1]] + _bad_numbers(s, True)
    if s.kind == "float":
        return (["abc", "", True, float("nan"), float("inf"), float("-inf"), [0.5]]
                + [b for b in _bad_numbers(s, False) if abs(b) != HUGE]
                + [-1e300, 1e300, 10 ** 400, "1e400"])
    if s.kind == "bool":
        return ["maybe", 2, [True], "abc"]
    if s.kind == "enum":
        return ["no_such_choice", [s.default], 3.5] + ([] if "" in s.choices else [""])
    if s.kind == "str":
        return [[1, 2], {"a": 1}, True, "a\x00b", "line\nbreak", "x" * 5000]
    if s.kind in ("floats", "ints"):
        item = 5 if s.kind == "ints" else 0.5
        low = s.low if s.low is not None else -HUGE
        below = low if s.low_open else (low - 1 if s.kind == "ints" else low - 0.5)
        out = ["abc", [item] * (s.max_items + 1), [below], [s.high * 2 + 1]]
        out += ["nan", "inf"] if s.kind == "floats" else ["1.5", str(HUGE)]
        if s.length:
            out.append([item] * (s.length + 1))
        if s.min_items or s.length:
            out.append([])
        return out
    if s.kind == "strs":
        out = ["a\x00b", [s.choices[0] if s.choices else "x"] * (s.max_items + 1)]
        out += ["no_such_choice", "1,2"] if s.choices else []
        if s.min_items or s.length:
            out.append([])
        return out
    raise AssertionError(f"no bad values for kind {s.kind}")


CASES = [(name, v) for name in NAMES for v in bad_values(SETTINGS[name])]


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z_]){name}(?![A-Za-z_])", message) is not None


@pytest.fixture(scope="module")
def absent_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz") / "no_run_here")


@pytest.mark.parametrize("name, value", CASES,
                         ids=[f"{n}={str(v)[:20]!r}" for n, v in CASES])
def test_every_setting_refuses_bad_values(name, value, absent_dir):
    kwargs = {name: value} if name == "model_dir" else {name: value, "model_dir": absent_dir}
    with pytest.raises(ConfigError) as info:
        config.make_config(**kwargs)
    message = str(info.value)
    assert _names(message, name), message
    assert "\n" not in message
    assert not os.path.exists(absent_dir)


def test_the_fuzz_covers_every_setting_and_kind():
    assert {n for n, _ in CASES} == set(NAMES)
    assert len(CASES) > 7 * len(NAMES)


# A bad value of a feature that is off is refused by the value's own rule, not accepted (the
# audit found 32 such) and not only by "applies to ... set --x".
@pytest.mark.parametrize("overrides, message", [
    (dict(mixup_alpha=-1.0), "--mixup_alpha must be > 0"),
    (dict(cutmix_alpha=float("inf")), "--cutmix_alpha must be a finite number"),
    (dict(rmix_alpha=0.0), "--rmix_alpha must be > 0"),
    (dict(switch_prob=1.5), "--switch_prob must be <= 1"),
    (dict(dropblock_kp="0,0.9"), "--dropblock_kp must be > 0"),
    (dict(dropblock_kp="0.9"), "--dropblock_kp needs 2 values"),
    (dict(pr_hidden_dim=0), "--pr_hidden_dim must be >= 1"),
    (dict(memory_ema=1.0), "--memory_ema must be < 1"),
    (dict(bl_beta=0), "--bl_beta must be >= 1"),
    (dict(kd_weight=-1.0), "--kd_weight must be >= 0"),
    (dict(reinforce_p=2.0), "--reinforce_p must be <= 1"),
    (dict(multicrop_local_size=0), "--multicrop_local_size must be >= 1"),
    (dict(multicrop_global_scale="0.9,0.1"), "--multicrop_global_scale is min,max"),
    (dict(corruption_jpeg_quality=101), "--corruption_jpeg_quality must be <= 100"),
    (dict(recall_at_k="0"), "--recall_at_k must be >= 1"),
    (dict(recall_at_k="1,1"), "--recall_at_k lists a k twice"),
    (dict(stop_threshold=float("nan")), "--stop_threshold must be a finite number"),
    (dict(anti_alias_type="foo"), "unknown anti_alias_type item 'foo'"),
    (dict(anti_alias_filter_size=3), "anti_alias_filter_size must be 0 when"),
    (dict(piecewise_lr_boundary_epochs="60,30", piecewise_lr_decay_rates="1,0.1,0.01"),
     "--piecewise_lr_boundary_epochs must be strictly increasing"),
    (dict(end_learning_rate=float("nan")), "--end_learning_rate must be a finite number"),
    (dict(robustness_baseline="/no/such/report.json"), "--robustness_baseline: file not found"),
])
def test_bad_values_of_features_that_are_off(overrides, message, absent_dir):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.make_config(model_dir=absent_dir, **overrides)


@pytest.mark.parametrize("overrides, message", [
    (dict(seed=-1), "--seed must be >= 0"),
    (dict(seed=2 ** 31), "--seed must be <= 2147483647"),
    (dict(loss_scale="inf", dtype="fp16"), "--loss_scale must be 'dynamic' or a number"),
    (dict(loss_scale="1e300", dtype="fp16"), "--loss_scale must be 'dynamic' or a number"),
    (dict(randaugment="1000000,9"), "--randaugment: at most 64 ops"),
    (dict(multicrop="1,100000"), "--multicrop: at most 16 global and 64 local crops"),
    (dict(preprocessing_type="small_100000"), "--preprocessing_type=small_100000: images of"),
    (dict(preprocessing_type="imagenet_4"), "--preprocessing_type: preprocessing_type"),
    (dict(training_random_crop=False), "--training_random_crop (the default preprocessing"),
    (dict(robustness="bogus"), "--robustness='bogus': expected one of"),
    (dict(num_cpu_replicas=3), "--batch_size (64) must be divisible by --num_cpu_replicas"),
    (dict(resnet_version=2, resnet_size=18), "network: resnet_version=2 (Big-Little Net) needs"),
    (dict(anti_alias_type="max", anti_alias_filter_size=3),
     "network: anti_alias_type 'max' needs stem_type='default'"),
])
def test_other_values_refused_up_front(overrides, message, absent_dir):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.make_config(model_dir=absent_dir, **overrides)


def test_a_yaml_list_or_yes_is_not_text(tmp_path):
    for text, key in (("train_regex: [a, b]\n", "train_regex"), ("robustness: on\n",
                                                                  "robustness")):
        path = tmp_path / "p.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=f"bad value .* for '{key}': expected a string"):
            config.make_config([str(path)], model_dir=str(tmp_path / "run"))


# ----------------------------------------------------------------------------- network size
@pytest.mark.parametrize("overrides, flag", [
    (dict(base_width=4096), "--resnet_size=18 --base_width=4096"),
    (dict(resnet_size=200, base_width=1024, stem_type="default"),
     "--resnet_size=200 --base_width=1024"),
    (dict(num_classes=1_000_000, embedding_size=65536), "--num_classes=1000000 x "
     "--embedding_size=65536"),
    (dict(embedding_size=65536, head="trex", pr_hidden_dim=65536, pr_hidden_layers=8,
          memory_size=0), "--pr_hidden_dim=65536"),
    (dict(head="trex", memory_size=1_000_000, pr_bottleneck_dim=65536), "--memory_size"),
])
def test_absurd_networks_are_refused_with_their_size(overrides, flag, absent_dir):
    with pytest.raises(ConfigError) as info:
        config.make_config(model_dir=absent_dir, **overrides)
    message = str(info.value)
    assert message.startswith(flag) and "billion parameters" in message, message
    assert "more than the limit of 2 billion" in message


@pytest.mark.parametrize("overrides", [
    dict(resnet_size=200, dataset_name="imagenet"),  # ResNet-200, 1001 classes: 65M
    dict(resnet_size=50, base_width=128, dataset_name="imagenet"),  # wide ResNet-50
    dict(resnet_size=152, base_width=256, num_classes=21843, dataset_name="imagenet"),  # BiT
    dict(resnet_size=50, base_width=64, embedding_size=512, num_classes=500_000),  # faces
    dict(resnet_size=152, resnet_version=2, use_sk_block=True, use_se_block=True,
         anti_alias_type="sconv", anti_alias_filter_size=3, use_resnet_d=True,
         dataset_name="imagenet"),
])
def test_real_networks_pass(overrides, absent_dir):
    cfg = config.make_config(model_dir=absent_dir, **overrides)
    classes = cfg["num_classes"] or 1001
    assert config.network_size(cfg, classes)["total"] < config.MAX_PARAMETERS


@pytest.mark.parametrize("preset", sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))),
                         ids=os.path.basename)
def test_published_configs_validate(preset, absent_dir):
    cfg = config.make_config([preset], model_dir=absent_dir)
    assert config.network_size(cfg, cfg["num_classes"] or 1001)["total"] < 200_000_000


def test_the_count_is_the_built_networks():
    """nets/param_count.py against Keras' count_params (DropBlock's scalar weights aside)."""
    from nets.param_count import parameter_count
    from nets.resnet import build_resnet
    trex = dict(hidden_layers=2, hidden_dim=24, bottleneck_dim=12, input_l2_norm=True,
                tau=0.1, learnable=True)
    for size, classes, kw in [
        (18, 10, dict(base_width=8, stem_type="small")),
        (50, 10, dict(base_width=8, use_resnet_d=True, use_se_block=True, use_sk_block=True)),
        (34, 7, dict(base_width=8, use_sk_block=True, anti_alias_type="sconv,proj",
                     anti_alias_filter_size=3, embedding_size=20, pool_type="gem")),
        (50, 7, dict(base_width=8, resnet_version=2, bl_alpha=2, bl_beta=4,
                     use_se_block=True, use_sk_block=True)),
        (18, 11, dict(base_width=8, trex_head=trex, embedding_size=20)),
    ]:
        model = build_resnet(size, classes, **kw)
        assert parameter_count(size, classes, **kw)["total"] == model.count_params(), (size, kw)


# ----------------------------------------------------------------------------- against the data
def test_against_data_lowers_the_shuffle_buffer_and_eval_batch(absent_dir, capsys):
    cfg = config.make_config(model_dir=absent_dir, shuffle_buffer=1_000_000,
                             val_batch_size=131_072)
    config.check_against_data(cfg, 1437, 361, 10, replicas=2)
    assert cfg["shuffle_buffer"] == 1437 and cfg["val_batch_size"] == 362
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "warning: --shuffle_buffer=1000000 is larger than the training split (1437 records): "
        "using 1437",
        "warning: --val_batch_size=131072 is larger than the evaluation split (361 images, "
        "rounded up to a multiple of 2 replicas): using 362"]
    config.check_against_data(cfg, 1437, 361, 10, replicas=2)  # nothing more to say
    config.check_against_data(cfg, None, None, 10)  # sizes unknown: the static bounds hold
    assert capsys.readouterr().err == ""


def test_against_data_refuses_the_datasets_class_count(absent_dir):
    cfg = config.make_config(model_dir=absent_dir, embedding_size=8192)
    with pytest.raises(ConfigError, match=r"^--num_classes \(the dataset's 500000 classes\) x "
                                          r"--embedding_size=8192: the network would have"):
        config.check_against_data(cfg, 1000, 100, 500_000)


def test_cpu_replicas_hold_a_copy_each(absent_dir):
    cfg = config.make_config(model_dir=absent_dir, resnet_size=50, base_width=64,
                             num_cpu_replicas=64, batch_size=64, val_batch_size=256)
    with pytest.raises(ConfigError, match=r"^--num_cpu_replicas=64: 64 copies of the "
                                          "network's .* parameters in host memory"):
        config.check_against_data(cfg, 1000, 100, 100_000)


def test_the_trainer_uses_the_lowered_values(tmp_path):
    from engine import trainer
    cfg = config.make_config(model_dir=str(tmp_path / "run"), resnet_size=18, base_width=4,
                             batch_size=8, shuffle_buffer=100_000, val_batch_size=100_000,
                             train_epochs=1, lr_warmup_epochs=0.0)
    run = trainer.Run(cfg)
    assert run.pipeline.shuffle_buffer == run.source.train_size == 1437
    assert run.eval_pipeline.global_batch == run.source.eval_size == 360


# ----------------------------------------------------------------------------- the CLI
AUDIT = ["--seed=-1", "--base_width=100000", "--embedding_size=10000000",
         "--num_classes=100000000", "--shuffle_buffer=1000000000",
         "--val_batch_size=1000000000", "--num_cpu_replicas=1000000000",
         "--base_width=4096"]
MEMORY_LIMIT = 4 * 2 ** 30  # address space: TensorFlow starts in ~3 GiB; no big allocation


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("arg", AUDIT)
def test_audit_crashes_are_one_error_line(arg, tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "main_classification.py"), arg,
                           f"--model_dir={run_dir}"], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env=env, preexec_fn=_limited)
    elapsed = time.monotonic() - start
    flag = arg[2:].split("=")[0]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and _names(lines[0], flag), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not run_dir.exists()
    assert elapsed < 120 and math.isfinite(elapsed)


def test_more_gpus_than_visible_are_refused_before_anything(tmp_path):
    import tensorflow as tf

    from engine import trainer
    visible = len(tf.config.list_physical_devices("GPU"))
    cfg = config.make_config(model_dir=str(tmp_path / "run"), num_gpus=visible + 1)
    with pytest.raises(ConfigError, match=rf"--num_gpus={visible + 1} but only {visible} GPU"):
        trainer.Run(cfg)
    assert not (tmp_path / "run").exists()


def test_running_out_of_memory_anyway_is_named():
    import tensorflow as tf

    from main_classification import _out_of_memory
    error = tf.errors.ResourceExhaustedError(
        None, None, "{{function_node x}} OOM when allocating tensor with shape[3,3,8192,8192] "
        "and type float on /job:localhost by allocator mklcpu [Op:AddV2]")
    assert _out_of_memory(error) == "OOM when allocating tensor with shape[3,3,8192,8192]"
    assert _out_of_memory(MemoryError()) == "MemoryError"
    assert _out_of_memory(ValueError("a bug keeps its traceback")) == ""
