"""A run's config: defaults <- YAML presets (in order) <- flags on the command line, and for
an existing run directory, the run's stored config in place of the defaults.

Every setting is defined once, in `core/settings.py`; the absl flags of
`main_classification.py` are made from that table (the original assembled-cnn names). A
preset under `configs/` is a flat YAML mapping of setting names to values.

New run (model_dir has no config.yaml, or --clean): the setting defaults -- the original's,
or `SMALL_IMAGE_DEFAULTS` for small-image datasets (preprocessing small_<N>: the embedded
digits, CIFAR) -- then presets, then the command line.

Existing run: the stored config, then what presets and the command line set explicitly:
- an architecture setting (role "arch") that differs from the stored value is an error that
  names both values;
- training on: data settings that change the dataset, classes or preprocessing are errors;
  training settings may change (a longer schedule, a lower LR after a divergence) and each
  change is appended to the run's history, never written over config.yaml; except
  `KEPT_ON_RESUME` (--crop_sampler, --randaugment_fill, --autoaugment_magnitudes): another
  value on the command line is an error, a preset's is set aside with a warning (a run keeps
  how its views are drawn);
- a key an older run's config.yaml lacks reads as its setting's `legacy` value (what such
  runs used: crop_sampler inception, randaugment_fill 128, autoaugment_magnitudes original;
  `settings.LEGACY_VALUES`), else
  as its default (core/rundir.read_config);
- evaluating (--eval_only, --robustness, --export_only, --train_epochs=0): data settings may
  point at other data (checked for the class count when the data is read, and written to
  its own eval_only/<name>/ namespace); training settings are ignored and listed.
One value is adjusted rather than refused: a warm-up (--lr_warmup_epochs) not shorter than
--train_epochs becomes half the run, with a warning line (`_clamp_warmup`); the config, and so
the run's config.yaml, holds the value used.
Validation checks every setting's type and range, whether its feature is on or not, and has
no side effects. It also refuses a network too large to allocate (its parameter count is
computed from the settings, `nets/param_count.py`); what needs the data (the class count of
the dataset, the split sizes) is checked by `check_against_data` once the trainer has
resolved the data source, still before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from typing import Any

import yaml
from absl import flags

from core import fs
from core import rundir as rundir_lib
from core.errors import ConfigError, FinetuneError, RunDirError
from core.settings import (  # noqa: F401
    AUTOAUGMENT_POLICIES,
    DTYPES,
    LR_DECAY_TYPES,
    MIXUP_TYPES,
    SETTINGS,
    Setting,
    check,
    defaults,
)

FLAGS = flags.FLAGS
TREX_KEYS = ("pr_hidden_layers", "pr_hidden_dim", "pr_bottleneck_dim", "pr_input_l2_norm",
             "clf_tau", "memory_size", "memory_ema")
# Data settings an evaluation may change (it then reads other data); for training they name
# the run's dataset and stay fixed, except where the same data moved (data_dir, the globs).
DATA_IDENTITY = ("dataset_name", "num_classes", "preprocessing_type", "label_file",
                 "dct_method")
# Training settings a resumed training keeps (an evaluation ignores them): another value on
# the command line is an error; a preset's (one written or changed after the run was made)
# is set aside with a warning line. A run made before --crop_sampler / --randaugment_fill /
# --autoaugment_magnitudes existed stored none and reads as inception / 128 / original
# (settings.LEGACY_VALUES).
KEPT_ON_RESUME = ("crop_sampler", "randaugment_fill", "autoaugment_magnitudes")

_DEFINE = {"int": flags.DEFINE_integer, "float": flags.DEFINE_float,
           "str": flags.DEFINE_string, "bool": flags.DEFINE_bool,
           "floats": flags.DEFINE_list, "ints": flags.DEFINE_list, "strs": flags.DEFINE_list}


def define_flags() -> None:
    """Defines the flags from the settings table, once per process."""
    if "dataset_name" in FLAGS:
        return
    flags.DEFINE_multi_string("config", [], "YAML preset(s) under configs/, applied in "
                              "order; command-line flags win over them.")
    for s in SETTINGS.values():
        default = s.default
        if s.kind == "enum" and "" not in s.choices:
            flags.DEFINE_enum(s.name, default, list(s.choices), s.help)
            continue
        if s.kind == "enum":  # an enum with an empty choice: checked by core.settings.check
            flags.DEFINE_string(s.name, default, s.help)
            continue
        if s.is_list and default is not None:
            default = [str(v) for v in default]
        _DEFINE[s.kind](s.name, default, s.help)


# ----------------------------------------------------------------------------- values
def parse_value(name: str, value: Any, origin: str) -> Any:
    """A preset's or command line's value in the setting's type (ConfigError naming both)."""
    s = SETTINGS[name]
    if value is None:
        return None
    try:
        return _convert(s, value)
    except (TypeError, ValueError, OverflowError):
        shown = repr(value) if len(repr(value)) <= 100 else repr(value)[:100] + "..."
        raise ConfigError(f"{origin}: bad value {shown} for '{name}': expected "
                          f"{_KIND_WORDS[s.kind]}") from None


_KIND_WORDS = {"int": "an integer", "float": "a number", "str": "a string",
               "bool": "true or false", "enum": "one of the listed values",
               "floats": "a comma-separated list of numbers",
               "ints": "a comma-separated list of integers",
               "strs": "a comma-separated list", "multi": "a list"}


def _convert(s: Setting, value: Any) -> Any:
    if s.is_list:
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [i.strip() if isinstance(i, str) else i for i in items]
        items = [i for i in items if i != ""]
        item = {"floats": float, "ints": _to_int, "strs": str}[s.kind]
        return [item(i) for i in items]
    if s.kind == "int" or (s.kind == "enum" and s.choices and isinstance(s.choices[0], int)):
        return _to_int(value)
    if s.kind == "float":
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if s.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "t", "1", "yes"):
            return True
        if text in ("false", "f", "0", "no"):
            return False
        raise ValueError
    if isinstance(value, (bool, list, tuple, dict, set)) or value is None:
        raise ValueError  # a YAML list, mapping or yes/no where text is expected
    return str(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        return int(value)
    return int(str(value).strip())


# ----------------------------------------------------------------------------- presets
def load_preset(path: str) -> dict[str, Any]:
    """Reads one YAML preset; every key must be a setting."""
    if not os.path.isfile(path):
        raise ConfigError(f"--config: preset file not found: {path}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of flag names to values")
    for key in data:
        if key not in SETTINGS:
            raise ConfigError(f"{path}: unknown key '{key}' (not a flag of "
                              "main_classification.py)")
    values = {key: parse_value(key, value, path) for key, value in data.items()}
    for key, value in values.items():
        problem = check(key, value)
        if problem:
            raise ConfigError(f"{path}: bad value {data[key]!r} for '{key}': {problem}")
    return values


# ----------------------------------------------------------------------------- resolution
def explicit_flags() -> dict[str, Any]:
    """The settings given on the command line, in their types."""
    out = {}
    for name in SETTINGS:
        if FLAGS[name].present:
            out[name] = parse_value(name, FLAGS[name].value, f"--{name}")
    return out


def resolve() -> dict[str, Any]:
    """The config of this command line (flags parsed by absl)."""
    return assemble(list(FLAGS.config or []), explicit_flags())


def make_config(presets: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """The resolved config without a command line (tests, notebooks, other tools)."""
    define_flags()
    for key in overrides:
        if key not in SETTINGS:
            raise ConfigError(f"unknown key '{key}'")
    explicit = {k: parse_value(k, v, k) for k, v in overrides.items()}
    return assemble(list(presets or []), explicit)


def default_model_dir(dataset_name: str) -> str:
    base = os.path.basename(os.path.normpath(str(dataset_name))) or "run"
    return os.path.join("runs", base)


def defaults_profile(dataset_name: str, preprocessing_type: str) -> str:
    """'small_images' when the data is read with small_<N> preprocessing, else 'original'."""
    prep = preprocessing_type
    if not prep:
        from datasets.registry import DATASETS
        entry = DATASETS.get(dataset_name)
        prep = entry.default_preprocessing if entry else "imagenet"
    return "small_images" if prep.startswith("small_") else "original"


def mode_of(values: dict[str, Any]) -> str:
    """What a command does: train, or only read model_dir (eval, robustness, export)."""
    if values.get("robustness"):
        return "robustness"
    if values.get("export_only"):
        return "export"
    if values.get("eval_only") or values.get("train_epochs") == 0:
        return "eval"
    return "train"


def assemble(presets: list[str], explicit: dict[str, Any]) -> dict[str, Any]:
    """Presets then explicit values over the defaults or the stored run (module doc)."""
    layered: dict[str, Any] = {}
    origin: dict[str, str] = {}  # where a layered value came from, for warnings
    for path in presets:
        values = load_preset(path)
        layered.update(values)
        origin.update(dict.fromkeys(values, path))
    layered.update(explicit)
    origin.update(dict.fromkeys(explicit, "the command line"))
    for key, value in layered.items():
        if SETTINGS[key].role == "refused" and value is not None:
            raise ConfigError(f"--{key}: the original's flag is not supported here: "
                              f"{SETTINGS[key].refused}")
        problem = check(key, value)  # before model_dir is read (a NUL in a path, ...)
        if problem:
            raise ConfigError(f"--{key} {problem}")
    dataset = layered.get("dataset_name", SETTINGS["dataset_name"].default)
    model_dir = layered.get("model_dir") or default_model_dir(dataset)
    stored = None if layered.get("clean") else rundir_lib.read_config(model_dir)
    if stored is None:
        profile = defaults_profile(dataset, layered.get("preprocessing_type") or "")
        cfg = defaults(profile)
        cfg.update(layered)
        cfg.update(defaults_profile=profile, existing_run=False, changed={}, ignored=[])
        if cfg.get("pretrained_model_checkpoint_path"):
            _inherit_backbone(cfg, explicit)
    else:
        cfg = _over_stored(stored, layered, model_dir, set(explicit))
    cfg["mode"] = mode_of(cfg if stored is None else layered)
    cfg["model_dir"] = model_dir
    cfg["config"] = presets
    _clamp_warmup(cfg, stored, origin.get("lr_warmup_epochs") or (
        f"the run's {rundir_lib.CONFIG_FILE}" if stored else "the defaults"))
    validate(cfg)
    return cfg


# The share of the run a clamped warm-up takes: half warms up, half decays (any share below 1
# leaves the schedule valid; half keeps as much of the asked-for warm-up as leaves the decay
# as long). Used when --train_epochs is not longer than the warm-up -- typically a preset's
# (5 epochs of a 100-epoch schedule) under a short --train_epochs=1 trial.
CLAMPED_WARMUP_SHARE = 0.5


def _clamp_warmup(cfg: dict[str, Any], stored: dict | None, origin: str) -> None:
    """Shortens a warm-up of at least --train_epochs epochs to CLAMPED_WARMUP_SHARE of the
    run, with one warning line naming both values. The clamped value is the config's, so a
    new run's config.yaml stores it, and a resumed run records it among its changes."""
    epochs, warmup = cfg.get("train_epochs"), cfg.get("lr_warmup_epochs")
    if not (isinstance(epochs, int) and isinstance(warmup, (int, float))
            and 0 < epochs <= warmup):
        return  # nothing to clamp; a bad type or value is validate's to refuse
    clamped = CLAMPED_WARMUP_SHARE * epochs
    print(f"warning: --lr_warmup_epochs={_show(warmup)} (from {origin}) is not shorter than "
          f"--train_epochs={epochs}: using --lr_warmup_epochs={_show(clamped)} (half the run)",
          file=sys.stderr, flush=True)
    cfg["lr_warmup_epochs"] = clamped
    if stored is not None:  # a resumed run: the change is what history.jsonl records
        old = stored.get("lr_warmup_epochs")
        changed = cfg.setdefault("changed", {})
        changed.pop("lr_warmup_epochs", None)
        if not _same(old, clamped):
            changed["lr_warmup_epochs"] = [old, clamped]


def _inherit_backbone(cfg: dict, explicit: dict) -> None:
    """A new fine-tuning run builds the network of the run it starts from: its backbone
    settings replace the defaults' and the presets' (a preset that said otherwise is listed
    in cfg["inherited"]); the command line still wins (the warm start then names the first
    layer that does not fit). The head's settings stay the new run's."""
    from nets.factory import HEAD_KEYS
    flag = "--pretrained_model_checkpoint_path"
    try:
        source, _ = rundir_lib.open_source(cfg["pretrained_model_checkpoint_path"], flag)
    except RunDirError as e:
        raise FinetuneError(str(e)) from None
    overridden = {}
    for key, s in SETTINGS.items():
        if s.role != "arch" or key in HEAD_KEYS or key in explicit:
            continue
        value = source.config.get(key, s.default)
        if not _same(cfg.get(key), value):
            overridden[key] = [cfg.get(key), value]
        cfg[key] = value
    cfg["inherited"] = {"from": source.path, "changed": overridden}


def _over_stored(stored: dict, layered: dict, model_dir: str, explicit: set) -> dict:
    cfg = {k: v for k, v in stored.items() if k in SETTINGS}
    evaluating = mode_of(layered) != "train"
    where = os.path.join(model_dir, rundir_lib.CONFIG_FILE)
    changed, ignored = {}, []
    for key, value in layered.items():
        s = SETTINGS[key]
        old = cfg.get(key)
        if _same(old, value) or s.role in ("run", "eval"):
            cfg[key] = value
            continue
        if s.role == "arch":
            raise ConfigError(f"--{key}={_show(value)} contradicts the run's {key}="
                              f"{_show(old)} ({where}); an existing run keeps its network "
                              "(leave the flag out, or use another --model_dir)")
        if s.role == "data" and not evaluating and key in DATA_IDENTITY:
            raise ConfigError(f"--{key}={_show(value)} contradicts the run's {key}="
                              f"{_show(old)} ({where}); a run trains on one dataset "
                              "(evaluate other data with --eval_only, or start a new "
                              "--model_dir)")
        if s.role == "train" and evaluating:
            ignored.append(key)
            continue
        if key in KEPT_ON_RESUME and key in explicit:
            raise ConfigError(f"--{key}={_show(value)} contradicts the run's {key}="
                              f"{_show(old)} ({where}); a resumed run keeps it (leave the "
                              "flag out, or use another --model_dir)")
        if key in KEPT_ON_RESUME:  # from a preset written (or changed) after the run
            print(f"warning: the preset's {key}={_show(value)} is not the run's {key}="
                  f"{_show(old)} ({where}): the run keeps {_show(old)}", file=sys.stderr,
                  flush=True)
            continue
        changed[key] = [old, value]
        cfg[key] = value
    cfg.update(defaults_profile=stored.get("defaults_profile", "original"),
               existing_run=True, changed=changed, ignored=ignored)
    return cfg


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b or (a in (None, "") and b in (None, ""))


def _show(value) -> str:
    if isinstance(value, list):
        return ",".join(_show(v) for v in value)
    return "" if value is None else str(value)


def settings_of(cfg: dict[str, Any]) -> dict[str, Any]:
    """Only the settings of a resolved config (no run-layer keys)."""
    return {k: cfg[k] for k in SETTINGS if k in cfg}


# ----------------------------------------------------------------------------- validation
def validate(cfg: dict[str, Any]) -> None:
    """ConfigError (one line) for the first invalid value or combination. No side effects."""
    for name, s in SETTINGS.items():
        if s.role == "refused":
            continue
        problem = check(name, cfg.get(name))
        if problem:
            raise ConfigError(f"--{name} {problem}")

    def need(cond, msg):
        if not cond:
            raise ConfigError(msg)

    if cfg["train_epochs"] > 0:
        need(cfg["lr_warmup_epochs"] < cfg["train_epochs"],
             f"--lr_warmup_epochs ({cfg['lr_warmup_epochs']}) must be smaller than "
             f"--train_epochs ({cfg['train_epochs']})")
    bounds, rates = cfg["piecewise_lr_boundary_epochs"], cfg["piecewise_lr_decay_rates"]
    need(len(rates) == len(bounds) + 1,
         f"--piecewise_lr_decay_rates needs {len(bounds) + 1} values (one more than "
         f"--piecewise_lr_boundary_epochs), got {len(rates)}")
    need(all(a < b for a, b in zip(bounds, bounds[1:])),
         "--piecewise_lr_boundary_epochs must be strictly increasing")
    need(not (cfg["nesterov"] and cfg["momentum"] == 0.0), "--nesterov needs --momentum > 0")
    gpus = cfg["num_gpus"]
    need(not (cfg["num_cpu_replicas"] and gpus not in (None, 0)),
         "--num_cpu_replicas and --num_gpus cannot be combined")
    loss_scale = cfg["loss_scale"]
    if loss_scale is not None and loss_scale != "dynamic":
        try:
            ok = 0 < float(loss_scale) <= MAX_LOSS_SCALE
        except ValueError:
            ok = False
        need(ok, f"--loss_scale must be 'dynamic' or a number in (0, 2**32], got "
             f"{loss_scale!r}")
    need(loss_scale is None or cfg["dtype"] == "fp16",
         f"--loss_scale={loss_scale} applies to --dtype=fp16 only (--dtype={cfg['dtype']})")
    for mode in ("eval_only", "robustness", "export_only"):
        if cfg[mode]:
            flag = f"--{mode}"
            need(not cfg["clean"], f"{flag} with --clean would delete the checkpoint to "
                 "evaluate")
            need(not cfg["pretrained_model_checkpoint_path"], f"{flag} reads model_dir; use "
                 "--model_dir, not --pretrained_model_checkpoint_path")
    need(not cfg["export_only"] or cfg["export_dir"], "--export_only needs --export_dir")
    need(not (cfg["robustness"] and cfg["export_only"]),
         "--robustness and --export_only exclude each other")
    need(cfg["export_dir"] or cfg["export_format"] == ["savedmodel"],
         "--export_format needs --export_dir")
    if cfg["export_dir"]:
        from core.export_libraries import missing_library
        need(len(set(cfg["export_format"])) == len(cfg["export_format"]),
             f"--export_format lists a format twice: {','.join(cfg['export_format'])}")
        for fmt in cfg["export_format"]:
            problem = missing_library(fmt)
            need(problem is None, problem)
    from preprocessing.corruptions.registry import parse_corruptions, parse_severities
    for key, parse in (("corruptions", parse_corruptions), ("severities", parse_severities)):
        try:
            parse(cfg[key])
        except ValueError as e:
            raise ConfigError(f"--{key}: {e}") from None
    baseline = cfg["robustness_baseline"]
    need(not baseline or fs.isfile(baseline)
         or (cfg.get("existing_run") and not cfg["robustness"]),
         f"--robustness_baseline: file not found: {baseline}")
    if cfg["robustness"]:
        from datasets.corrupted import parse_flag
        from datasets.errors import DataError
        try:
            parse_flag(cfg["robustness"])
        except DataError as e:
            raise ConfigError(str(e)) from None
    label_file = cfg["label_file"]
    need(not label_file or os.path.isfile(label_file) or cfg.get("existing_run"),
         f"--label_file: file not found: {label_file}")
    need(not cfg["preprocessing_type"] or re.fullmatch(r"[a-z0-9_]+", cfg["preprocessing_type"]),
         f"--preprocessing_type: bad name {cfg['preprocessing_type']!r}")
    if cfg["resnet_version"] == 1:
        need(cfg["bl_alpha"] == SETTINGS["bl_alpha"].default
             and cfg["bl_beta"] == SETTINGS["bl_beta"].default,
             "--bl_alpha/--bl_beta apply to Big-Little Net only: set --resnet_version=2")
    if cfg["randaugment"]:
        from preprocessing.randaugment import parse_randaugment_flag
        try:
            parse_randaugment_flag(cfg["randaugment"])
        except ValueError as e:
            raise ConfigError(f"--randaugment: {e}") from None
    mix = str(cfg["mixup_type"])
    if cfg["multicrop"]:
        from preprocessing.multicrop import config_from_flags
        try:
            config_from_flags(cfg, default_size=224)
        except ValueError as e:
            raise ConfigError(f"--multicrop: {e}") from None
        need(mix == "0", f"--multicrop cannot be combined with --mixup_type={mix} (mixing "
             "needs one view per image)")
    if not cfg["kd_temp"]:
        need(not (cfg["kd_logits_path"] or cfg["teacher"] or cfg["reinforce_data_path"]),
             "--kd_logits_path / --teacher / --reinforce_data_path need --kd_temp > 0 (the "
             "distillation temperature)")
    sources = [k for k in ("kd_logits_path", "teacher", "reinforce_data_path") if cfg[k]]
    need(len(sources) <= 1, f"--{' and --'.join(sources)} exclude each other (one teacher-"
         "target source per run)")
    if cfg["reinforce_data_path"]:
        need(cfg["kd_temp"] == 1.0, "--reinforce_data_path needs --kd_temp=1 (the stored "
             f"teacher probabilities are at T=1), got {cfg['kd_temp']}")
        clash = [k for k in ("autoaugment_type", "randaugment", "random_erasing", "multicrop")
                 if cfg[k]]
        need(not clash, f"--reinforce_data_path replays the stored augmentation: unset "
             f"--{', --'.join(clash)}")
    _validate_head(cfg, need)
    need(not cfg["zeroshot_eval"] or 1 in cfg["recall_at_k"], "--zeroshot_eval ranks best/ "
         f"by Recall@1: --recall_at_k must include 1, got {_show(cfg['recall_at_k'])}")
    need(not (cfg["teacher"] and cfg["multicrop"]),
         "--teacher (online distillation) cannot be combined with --multicrop")
    _validate_limits(cfg, need)
    _validate_network(cfg)


# Limits of values whose feature may be off (checked all the same) and of sizes, with what
# real use needs: RandAugment uses 1-3 ops (DR 2), multi-crop 1-2 global and 6-10 local crops
# (t-ReX 1,8; DINO 2,10), ImageNet models train at up to 600 px.
MAX_RANDAUGMENT_OPS = 64
MAX_GLOBAL_CROPS, MAX_LOCAL_CROPS = 16, 64
MAX_IMAGE_SIZE = 4096
MAX_LOSS_SCALE = 2.0 ** 32
# Parameters (plus t-ReX's EMA copy and memory) of the network, float32: 8 GiB of weights,
# before gradients and optimizer state. ResNet-200 has 65M parameters, the Assemble-R152
# preset 116M (with its t-ReX-free head, 1001 classes), BiT-R152x4 (base_width 256) with
# ImageNet-21k's 21843 classes 1.1 billion.
MAX_PARAMETERS = 2_000_000_000


def _validate_limits(cfg: dict[str, Any], need) -> None:
    for key in ("multicrop_global_scale", "multicrop_local_scale"):
        lo, hi = cfg[key]
        need(lo <= hi, f"--{key} is min,max: min must not exceed max, got {_show(cfg[key])}")
    ks = cfg["recall_at_k"]
    need(len(set(ks)) == len(ks), f"--recall_at_k lists a k twice: {_show(ks)}")
    replicas = cfg["num_cpu_replicas"]
    if replicas:
        for key in ("batch_size", "val_batch_size"):
            need(cfg[key] % replicas == 0, f"--{key} ({cfg[key]}) must be divisible by "
                 f"--num_cpu_replicas ({replicas})")
    if cfg["randaugment"]:
        from preprocessing.randaugment import parse_randaugment_flag
        n = parse_randaugment_flag(cfg["randaugment"])[0]
        need(n <= MAX_RANDAUGMENT_OPS, f"--randaugment: at most {MAX_RANDAUGMENT_OPS} ops "
             f"per image, got N={n}")
    if cfg["multicrop"]:
        from preprocessing.multicrop import parse_multicrop_flag
        num_global, num_local = parse_multicrop_flag(cfg["multicrop"])
        need(num_global <= MAX_GLOBAL_CROPS and num_local <= MAX_LOCAL_CROPS,
             f"--multicrop: at most {MAX_GLOBAL_CROPS} global and {MAX_LOCAL_CROPS} local "
             f"crops, got {num_global},{num_local}")
    prep_name = cfg["preprocessing_type"]
    if not prep_name:
        from datasets.registry import DATASETS
        entry = DATASETS.get(cfg["dataset_name"])
        prep_name = entry.default_preprocessing if entry else ""
    if prep_name:
        import preprocessing
        try:
            prep = preprocessing.get_preprocessing(
                prep_name, dct_method=cfg["dct_method"],
                training_random_crop=cfg["training_random_crop"])
        except ValueError as e:
            flag = "--preprocessing_type" if cfg["preprocessing_type"] else (
                f"--training_random_crop (the default preprocessing of {cfg['dataset_name']} "
                f"is {prep_name})")
            raise ConfigError(f"{flag}: {e}") from None
        try:  # multi-crop draws its own crops with the sampler (preprocessing/multicrop.py)
            dataclasses.replace(prep, crop_sampler=cfg["crop_sampler"])
        except ValueError as e:
            if not cfg["multicrop"] and cfg.get("mode", "train") == "train":
                raise ConfigError(f"--crop_sampler: {e}") from None
        size = max(prep.train_size, prep.eval_resize)
        need(size <= MAX_IMAGE_SIZE, f"--preprocessing_type={prep_name}: images of {size} px, "
             f"more than {MAX_IMAGE_SIZE} px a side")


def _validate_network(cfg: dict[str, Any]) -> None:
    """The network's arguments (as the builder checks them) and its size, without building
    it. The class count is --num_classes, else the registry's, else 1 (a dataset's own count
    is checked by check_against_data)."""
    from nets.factory import check_config
    num_classes = cfg["num_classes"]
    if not num_classes:
        from datasets.registry import DATASETS
        entry = DATASETS.get(cfg["dataset_name"])
        num_classes = entry.num_classes if entry else 1
    try:
        check_config(cfg, num_classes)
    except ValueError as e:
        raise ConfigError(f"network: {e}") from None
    check_network_size(cfg, num_classes)


def _words(n: float) -> str:
    for unit, size in (("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return str(int(n))


def network_size(cfg: dict[str, Any], num_classes: int) -> dict[str, int]:
    """Parameters of the network of ``cfg`` by part ("backbone", "embedding", "projector",
    "classifier"; t-ReX OCM: "ema" copy and "memory" floats) and "total", not built."""
    from nets.factory import parameter_count
    size = parameter_count(cfg, num_classes)
    size["ema"] = size["memory"] = 0
    if cfg["head"] == "trex" and cfg["memory_size"]:
        size["ema"] = size["total"]
        size["memory"] = cfg["memory_size"] * cfg["pr_bottleneck_dim"]
        size["total"] += size["ema"] + size["memory"]
    return size


def check_network_size(cfg: dict[str, Any], num_classes: int, copies: int = 1) -> None:
    """ConfigError naming the flag of the largest part if the network (times ``copies`` in
    one memory: CPU replicas) exceeds MAX_PARAMETERS; nothing is built."""
    size = network_size(cfg, num_classes)
    parts = {k: v for k, v in size.items() if k not in ("total", "ema") and v}
    largest = max(parts, key=parts.get)
    classes = (f"--num_classes={num_classes}" if cfg["num_classes"] else
               f"--num_classes (the dataset's {num_classes} classes)")
    feeding = ("--pr_bottleneck_dim" if cfg["head"] == "trex" else
               "--embedding_size" if cfg["embedding_size"] else "")
    blame = {
        "backbone": f"--resnet_size={cfg['resnet_size']} --base_width={cfg['base_width']}",
        "embedding": f"--embedding_size={cfg['embedding_size']}",
        "projector": f"--pr_hidden_dim={cfg['pr_hidden_dim']} (--pr_hidden_layers="
                     f"{cfg['pr_hidden_layers']})",
        "classifier": classes + (f" x {feeding}={cfg[feeding[2:]]}" if feeding else ""),
        "memory": f"--memory_size={cfg['memory_size']} x --pr_bottleneck_dim="
                  f"{cfg['pr_bottleneck_dim']}",
    }[largest]
    breakdown = ", ".join(f"{k} {_words(v)}" for k, v in size.items()
                          if k != "total" and v)
    limit = (f"more than the limit of {_words(MAX_PARAMETERS)} ({MAX_PARAMETERS * 4 / 2**30:.1f} "
             "GiB of float32 weights before gradients and optimizer state)")
    total = size["total"]
    if total > MAX_PARAMETERS:
        raise ConfigError(f"{blame}: the network would have {_words(total)} parameters "
                          f"({breakdown}), {limit}")
    if total * copies > MAX_PARAMETERS:
        raise ConfigError(f"--num_cpu_replicas={copies}: {copies} copies of the network's "
                          f"{_words(total)} parameters in host memory are "
                          f"{_words(total * copies)}, {limit}")


def check_against_data(cfg: dict[str, Any], train_size: int | None, eval_size: int | None,
                       num_classes: int, replicas: int = 1) -> None:
    """The limits that need the resolved data, called by the trainer right after the data
    source is resolved and before anything is allocated:
    - the network with the data's class count (``check_network_size``; CPU replicas hold one
      copy each in host memory);
    - --shuffle_buffer larger than the training split is lowered to the split's size: the
      records are repeated before the shuffle, so a larger buffer only holds copies of the
      next epoch's records (and reserves a slot per element); the default already stops at
      the split's size;
    - --val_batch_size larger than the evaluation split is lowered to the split's size
      (rounded up to a multiple of ``replicas``): evaluation pads its last batch to the full
      batch with blank images, so a larger batch only computes padding; the metrics are the
      same.
    A lowered value is said in one ``warning:`` line on stderr and written into ``cfg`` (so
    the run records the value it used)."""
    check_network_size(cfg, num_classes, cfg["num_cpu_replicas"] or 1)
    if train_size and cfg["shuffle_buffer"] > train_size:
        _lowered(cfg, "shuffle_buffer", train_size, f"the training split ({train_size} records)")
    if eval_size:
        enough = math.ceil(eval_size / max(replicas, 1)) * max(replicas, 1)
        if cfg["val_batch_size"] > enough:
            _lowered(cfg, "val_batch_size", enough, f"the evaluation split ({eval_size} images"
                     + (f", rounded up to a multiple of {replicas} replicas)" if enough !=
                        eval_size else ")"))


def _lowered(cfg: dict[str, Any], key: str, value: int, what: str) -> None:
    print(f"warning: --{key}={cfg[key]} is larger than {what}: using {value}",
          file=sys.stderr, flush=True)
    cfg[key] = value


def _validate_head(cfg: dict[str, Any], need) -> None:
    if cfg["head"] != "trex":
        changed = [k for k in TREX_KEYS if not _same(cfg[k], SETTINGS[k].default)]
        need(not changed, f"--{changed[0] if changed else ''} applies to the t-ReX head: set "
             "--head=trex")
        return
    need(not (cfg["memory_size"] and cfg["clf_tau"] <= 0), "--memory_size > 0 (OCM) needs "
         "--clf_tau > 0 (class means are compared by cosine)")
    need(str(cfg["mixup_type"]) == "0" or not cfg["memory_size"], "--memory_size > 0 (OCM) "
         "writes each image's label into the memory: it cannot be combined with --mixup_type")


def to_yaml(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None)
