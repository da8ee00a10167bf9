"""One config tree: flag defaults <- YAML presets (in order) <- command-line flags.

Every training option is an absl flag with the original assembled-cnn name and meaning
(spec assemble-resnet.md §6). A preset under `configs/` is a flat YAML mapping of flag
names to values; `--config a.yaml --config b.yaml` applies them in order and flags given
on the command line always win. The resolved mapping is what the trainer sees and what is
saved to `model_dir/config.yaml`.

Defaults are those of the embedded job (`python main_classification.py` trains a small
ResNet on scikit-learn's digits); the real recipes live in `configs/*.yaml` and `scripts/`.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml
from absl import flags

from engine.errors import ConfigError

FLAGS = flags.FLAGS

# Names of the flags this module defines, in definition order: the config tree's keys.
_OUR_FLAGS: list[str] = []

AUTOAUGMENT_POLICIES = ("imagenet", "good", "v0", "cifar", "svhn")  # preprocessing/autoaugment.py
MIXUP_TYPES = ("0", "mixup", "cutmix", "mixup_cutmix", "1", "2", "rmix")
LR_DECAY_TYPES = ("fixed", "exponential", "polynomial", "piecewise", "cosine")
DTYPES = ("fp32", "fp16", "bf16")


def _track(define):
    def wrapper(name, *args, **kwargs):
        define(name, *args, **kwargs)
        _OUR_FLAGS.append(name)
    return wrapper


_string = _track(flags.DEFINE_string)
_integer = _track(flags.DEFINE_integer)
_float = _track(flags.DEFINE_float)
_bool = _track(flags.DEFINE_bool)
_enum = _track(flags.DEFINE_enum)
_list = _track(flags.DEFINE_list)
_multi_string = _track(flags.DEFINE_multi_string)


def define_flags() -> None:
    """Defines the flags once per process (safe to call again)."""
    if "dataset_name" in FLAGS:
        return
    # --- presets
    _multi_string("config", [], "YAML preset(s) under configs/, applied in order; "
                  "command-line flags win over them.")
    # --- data
    _string("dataset_name", "digits", "Registry key (imagenet, food101, cifar10, ...), "
            "'digits' (embedded default), or a path to a TFRecord folder / class-per-folder "
            "image tree.")
    _string("data_dir", None, "TFRecord directory, image-folder root or TFDS data_dir for a "
            "registry dataset.")
    _string("train_regex", "train-*", "Glob of training shards inside data_dir.")
    _string("val_regex", "validation-*", "Glob of evaluation shards inside data_dir.")
    _integer("num_classes", 0, "Override the class count (0 = from the dataset).")
    _string("preprocessing_type", "", "imagenet, imagenet_224_256, imagenet_224_256a, "
            "imagenet_<N>, imagenet_<N>a or small_<N>; empty = the dataset's default.")
    _integer("shuffle_buffer", 0, "Record shuffle buffer (0 = 10000 for imagenet, else 1000 "
             "or the dataset size if smaller).")
    _bool("strict", False, "Fail on an undecodable image instead of skipping and counting it.")
    # --- run
    _string("model_dir", None, "Checkpoints, metrics and the resolved config "
            "(default: runs/<dataset_name>).")
    _bool("clean", False, "Delete model_dir before starting.")
    _integer("seed", 0, "Seed of data order, augmentation and initialisation.")
    _bool("deterministic", False, "Enable TF op determinism (bitwise reproducible runs, "
          "slower).")
    # --- schedule
    _integer("batch_size", 64, "Global training batch, split over replicas.")
    _integer("val_batch_size", 256, "Global evaluation / export-check batch.")
    _integer("train_epochs", 12, "Epochs to train (0 = evaluate only).")
    _integer("epochs_between_evals", 1, "Evaluate every this many epochs.")
    _float("ratio_fine_eval", 1.0, "After ratio_fine_eval*train_epochs, evaluate every epoch.")
    _integer("max_train_steps", 0, "Stop after this many optimizer steps in total (0 = no cap).")
    _integer("steps_per_loop", 10, "Train steps run inside one tf.function call.")
    # --- optimisation
    _float("base_learning_rate", 0.1, "Peak learning rate (not batch-scaled).")
    _enum("learning_rate_decay_type", "cosine", list(LR_DECAY_TYPES), "LR decay after warmup.")
    _float("learning_rate_decay_factor", 0.94, "exponential: staircase factor.")
    _float("num_epochs_per_decay", 2.0, "exponential: epochs per decay step; polynomial: "
           "epochs to reach end_learning_rate.")
    _float("end_learning_rate", 1e-4, "polynomial: final LR.")
    _list("piecewise_lr_boundary_epochs", ["30", "60", "80", "90"],
          "piecewise: epoch boundaries (absolute epochs).")
    _list("piecewise_lr_decay_rates", ["1", "0.1", "0.01", "0.001", "1e-4"],
          "piecewise: LR multipliers, one more than boundaries.")
    _float("lr_warmup_epochs", 1.0, "Linear warmup from 0 to the peak LR.")
    _float("momentum", 0.9, "SGD momentum.")
    _bool("nesterov", False, "Nesterov momentum.")
    _float("weight_decay", 5e-4, "L2 coefficient: wd * sum(0.5*||w||^2) over conv/dense "
           "kernels (BN parameters and biases are not decayed).")
    _float("bn_momentum", 0.9, "BatchNorm moving-average momentum (original default 0.997).")
    _float("label_smoothing", 0.0, "y*(1-eps) + eps/C.")
    # --- network
    _integer("resnet_version", 1, "1 = ResNet v1.5; 2 = Big-Little Net (assembled-cnn).")
    _integer("resnet_size", 18, "18, 34 (basic blocks), 50, 101, 152, 200 (bottleneck).")
    _integer("base_width", 16, "Width of the first stage (64 for the published ResNets).")
    _enum("stem_type", "small", ["default", "small"], "default: 7x7/2 conv + max-pool; "
          "small: 3x3/1 conv, no pool (32-64 px images).")
    _bool("zero_gamma", False, "Initialise the last BN gamma of each residual branch to 0.")
    _bool("use_resnet_d", False, "ResNet-D: deep 3x3 stem and avg-pool projection shortcuts.")
    _bool("use_se_block", False, "Squeeze-Excitation (ratio 16) in every block.")
    _bool("use_sk_block", False, "Selective-Kernel 3x3 (one conv to 2x width, r=2, L=32).")
    _string("anti_alias_type", "", "Blur-pool placement: comma list of sconv, max, proj.")
    _integer("anti_alias_filter_size", 0, "Binomial blur filter size 2..7 (with a type).")
    # --- regularisation and distillation
    _string("mixup_type", "0", "Batch mixing: 0 = off; mixup, cutmix, mixup_cutmix (timm "
            "semantics); rmix (saliency-guided R-Mix); 1 (the original's: reads 2x batch per "
            "step and mixes the halves), 2 (the original's same-batch type).")
    _float("mixup_alpha", 0.2, "mixup and types 1/2: lambda ~ Beta(alpha, alpha) (the "
           "original's 0.2).")
    _float("cutmix_alpha", 1.0, "CutMix: lambda ~ Beta(alpha, alpha).")
    _float("mix_prob", 1.0, "Probability that a batch is mixed at all.")
    _float("switch_prob", 0.5, "mixup_cutmix: probability of CutMix instead of mixup.")
    _float("rmix_alpha", 1.0, "R-Mix: (w1, w2) ~ Dirichlet(alpha, alpha) per batch (the "
           "official CIFAR default; it used 0.2 on ImageNet).")
    _string("autoaugment_type", "", "AutoAugment policy: imagenet, good, v0, cifar or svhn "
            "(empty = off).")
    _float("kd_temp", 0.0, "Distillation temperature T (0 = off): loss = kd_label_weight * "
           "CE(labels) + kd_weight * T^2 * CE(softmax(teacher/T), student/T).")
    _float("kd_weight", 1.0, "Weight of the distillation term (the original: 1).")
    _float("kd_label_weight", 1.0, "Weight of the label CE term under distillation (the "
           "original: 1; dataset reinforcement: 0).")
    _string("kd_logits_path", "", "Side-car directory of offline teacher logits "
            "(python -m kd.extract_logits); empty with --kd_temp = read 'image/logit' from "
            "the image TFRecords (the original's format).")
    _string("reinforce_data_path", "", "Dataset reinforcement: side-car directory written "
            "by python -m kd.reinforce; each image replays one of its stored augmentations "
            "with the teacher's densified top-K probabilities as target (needs --kd_temp=1).")
    _float("reinforce_p", 0.99, "Probability of replaying a stored sample (else a fresh view "
           "of the same augmentation with a one-hot target), as DR.")
    _float("reinforce_partner_max_gib", 4.0, "Side-cars with mixing samples: the training "
           "shards are held in memory for the partners' pixels; refuse shards larger than "
           "this (GiB).")
    _string("teacher", "", "Online distillation: teacher spec(s) run inside the train step "
            "on the same augmented view (run:DIR, keras:FILE[@prep], savedmodel:DIR[@prep]; "
            "comma-separated = ensemble averaged in probability space).")
    _string("multicrop", "", "Multi-crop 'G,L': G global and L local random-resized crops "
            "per image, CE averaged over all crops (t-ReX: 1,8); empty = off.")
    _integer("multicrop_global_size", 0, "Global crop size (0 = the preprocessing's train "
             "size).")
    _integer("multicrop_local_size", 96, "Local crop size (t-ReX: 96 for 224 px globals).")
    _list("multicrop_global_scale", ["0.25", "1.0"], "Global crop area range min,max "
          "(fraction of the image).")
    _list("multicrop_local_scale", ["0.05", "0.25"], "Local crop area range min,max.")
    # --- t-ReX head (engine/trex.py; spec trex.md)
    _enum("head", "linear", ["linear", "trex"], "Classifier head: linear (Dense) or trex "
          "(L2-norm -> projector -> cosine classifier; with --memory_size > 0 its class "
          "vectors are OCM class means).")
    _integer("pr_hidden_layers", 3, "t-ReX projector: Linear+BN+GELU blocks (t-ReX 3, "
             "t-ReX* 1).")
    _integer("pr_hidden_dim", 2048, "t-ReX projector: width of the hidden blocks.")
    _integer("pr_bottleneck_dim", 256, "t-ReX projector: output (bottleneck) width.")
    _bool("pr_input_l2_norm", True, "t-ReX projector: L2-normalise the pooled feature first.")
    _float("clf_tau", 0.1, "t-ReX cosine classifier temperature (<= 0: plain linear).")
    _integer("memory_size", 8192, "t-ReX OCM memory entries (0 = learnable cosine classifier, "
             "plain t-ReX).")
    _float("memory_ema", 0.999, "t-ReX OCM: momentum of the EMA network that fills the "
           "memory.")
    _string("randaugment", "", "RandAugment 'N,M[,std]': N ops, magnitude M in 0-10 "
            "(DR's 14-op list), optional magnitude noise std; empty = off.")
    _float("random_erasing", 0.0, "RandomErasing probability p (exactly p; 0 = off).")
    _bool("use_dropblock", False, "DropBlock (block 7) after every BN of stages 3 and 4.")
    _list("dropblock_kp", ["1.0", "0.9"], "DropBlock keep_prob start,end: linear over the run.")
    _enum("pool_type", "gap", ["gap", "gem"], "Global pooling: average or GeM (p=3).")
    _integer("embedding_size", 0, "Dense+BN embedding before the classifier (0 = none).")
    _float("bl_alpha", 2.0, "Big-Little Net width divisor of the little branch "
           "(--resnet_version=2).")
    _integer("bl_beta", 4, "Big-Little Net depth divisor of the little branch "
             "(--resnet_version=2).")
    # --- precision and distribution
    _enum("dtype", "fp32", list(DTYPES), "fp32, fp16 (dynamic loss scaling) or bf16 "
          "(mixed precision; logits in fp32).")
    _integer("num_gpus", None, "GPUs for MirroredStrategy (-1 = all; default 1 if a GPU "
             "exists, else 0). MultiWorkerMirroredStrategy when TF_CONFIG is set.")
    _integer("num_cpu_replicas", 0, "Split the CPU into this many logical devices and mirror "
             "over them (testing data parallelism without GPUs).")
    # --- evaluation, fine-tuning, export
    _bool("eval_only", False, "Evaluate a checkpoint of model_dir and exit.")
    _enum("eval_checkpoint", "latest", ["latest", "best"], "Which checkpoint --eval_only uses.")
    _string("pretrained_model_checkpoint_path", None, "Fine-tune from this run directory or "
            "checkpoint prefix of ours: every weight except the classifier is restored, BN "
            "statistics included.")
    # --- robustness (ImageNet-C; engine/robustness_eval.py)
    _string("robustness", None, "Evaluate the --eval_checkpoint of model_dir on corrupted "
            "data and exit: on_the_fly (corrupt the eval split in the input pipeline), "
            "tree:DIR (ImageNet-C layout DIR/<corruption>/<severity>/<class>/<file>) or "
            "tfds:NAME[@DATA_DIR] (imagenet2012_corrupted, cifar10_corrupted).")
    _string("corruptions", "all", "Corruptions for --robustness: all (19), standard (15), "
            "extra (4) or a comma list of names.")
    _string("severities", "1-5", "Severities for --robustness: e.g. 1-5 or 1,3,5.")
    _integer("corruption_seed", 0, "Seed of the on-the-fly corruptions (the same seed as "
             "python -m datasets.build_corrupted gives the same pixels).")
    _integer("corruption_jpeg_quality", 85, "On the fly: JPEG-encode each corrupted image at "
             "this quality, as ImageNet-C's files are (0 = off).")
    _integer("robustness_max_images", 0, "On the fly: evaluate only the first N eval images "
             "(0 = all); the same images for every corruption.")
    _string("robustness_baseline", None, "report.json of another run's --robustness to "
            "normalise CE by instead of AlexNet (use it for any dataset but ImageNet).")
    _string("robustness_dir", None, "Where the report, table and plots go "
            "(default model_dir/robustness/<tree|tfds|on_the_fly>).")
    _string("export_dir", None, "Write a SavedModel here after training and verify it.")
    _integer("keep_checkpoint_max", 5, "Checkpoints kept in model_dir (plus the best).")


def flag_names() -> list[str]:
    return [n for n in _OUR_FLAGS if n != "config"]


def load_preset(path: str) -> dict[str, Any]:
    """Reads one YAML preset; every key must be a flag of ours."""
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
    known = set(flag_names())
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}: unknown key '{key}' (not a flag of "
                              "main_classification.py)")
    return data


def _parse_value(name: str, value: Any, origin: str) -> Any:
    flag = FLAGS[name]
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    elif not isinstance(value, (str, bool)):
        value = str(value)
    try:
        return flag.parser.parse(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{origin}: bad value {value!r} for '{name}': "
                          f"{str(e).splitlines()[0]}") from None


def resolve() -> dict[str, Any]:
    """Flag defaults, then presets in order, then flags given on the command line."""
    cfg = {name: FLAGS[name].default for name in flag_names()}
    for path in FLAGS.config or []:
        for key, value in load_preset(path).items():
            cfg[key] = _parse_value(key, value, path)
    for name in flag_names():
        if FLAGS[name].present:
            cfg[name] = FLAGS[name].value
    cfg["config"] = list(FLAGS.config or [])
    return finalize(cfg)


def finalize(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fills derived defaults and validates; raises ConfigError with one line."""
    cfg = dict(cfg)
    if not cfg.get("model_dir"):
        base = os.path.basename(os.path.normpath(str(cfg["dataset_name"]))) or "run"
        cfg["model_dir"] = os.path.join("runs", base)
    cfg["piecewise_lr_boundary_epochs"] = _floats(cfg, "piecewise_lr_boundary_epochs")
    cfg["piecewise_lr_decay_rates"] = _floats(cfg, "piecewise_lr_decay_rates")
    for key in ("dropblock_kp", "multicrop_global_scale", "multicrop_local_scale"):
        cfg[key] = _floats(cfg, key)
    validate(cfg)
    return cfg


def _floats(cfg, key):
    try:
        return [float(v) for v in cfg[key]]
    except (TypeError, ValueError):
        raise ConfigError(f"--{key}: expected a comma-separated list of numbers, "
                          f"got {cfg[key]!r}") from None


def validate(cfg: dict[str, Any]) -> None:
    def need(cond, msg):
        if not cond:
            raise ConfigError(msg)

    need(cfg["batch_size"] > 0, f"--batch_size must be > 0, got {cfg['batch_size']}")
    need(cfg["val_batch_size"] > 0, f"--val_batch_size must be > 0, got {cfg['val_batch_size']}")
    need(cfg["train_epochs"] >= 0, f"--train_epochs must be >= 0, got {cfg['train_epochs']}")
    need(cfg["epochs_between_evals"] >= 1,
         f"--epochs_between_evals must be >= 1, got {cfg['epochs_between_evals']}")
    need(0.0 <= cfg["ratio_fine_eval"] <= 1.0,
         f"--ratio_fine_eval must be in [0, 1], got {cfg['ratio_fine_eval']}")
    need(cfg["max_train_steps"] >= 0, f"--max_train_steps must be >= 0, got {cfg['max_train_steps']}")
    need(cfg["steps_per_loop"] >= 1, f"--steps_per_loop must be >= 1, got {cfg['steps_per_loop']}")
    need(cfg["base_learning_rate"] > 0,
         f"--base_learning_rate must be > 0, got {cfg['base_learning_rate']}")
    need(cfg["lr_warmup_epochs"] >= 0, f"--lr_warmup_epochs must be >= 0, got {cfg['lr_warmup_epochs']}")
    if cfg["train_epochs"] > 0:
        need(cfg["lr_warmup_epochs"] < cfg["train_epochs"],
             f"--lr_warmup_epochs ({cfg['lr_warmup_epochs']}) must be smaller than "
             f"--train_epochs ({cfg['train_epochs']})")
    need(0.0 < cfg["learning_rate_decay_factor"] <= 1.0,
         "--learning_rate_decay_factor must be in (0, 1]")
    need(cfg["num_epochs_per_decay"] > 0, "--num_epochs_per_decay must be > 0")
    need(cfg["end_learning_rate"] >= 0, "--end_learning_rate must be >= 0")
    bounds, rates = cfg["piecewise_lr_boundary_epochs"], cfg["piecewise_lr_decay_rates"]
    if cfg["learning_rate_decay_type"] == "piecewise":
        need(len(rates) == len(bounds) + 1,
             f"--piecewise_lr_decay_rates needs {len(bounds) + 1} values (one more than "
             f"--piecewise_lr_boundary_epochs), got {len(rates)}")
        need(all(a < b for a, b in zip(bounds, bounds[1:])),
             "--piecewise_lr_boundary_epochs must be strictly increasing")
    need(0.0 <= cfg["momentum"] < 1.0, f"--momentum must be in [0, 1), got {cfg['momentum']}")
    need(not (cfg["nesterov"] and cfg["momentum"] == 0.0), "--nesterov needs --momentum > 0")
    need(cfg["weight_decay"] >= 0, f"--weight_decay must be >= 0, got {cfg['weight_decay']}")
    need(0.0 <= cfg["bn_momentum"] < 1.0, f"--bn_momentum must be in [0, 1), got {cfg['bn_momentum']}")
    need(0.0 <= cfg["label_smoothing"] < 1.0,
         f"--label_smoothing must be in [0, 1), got {cfg['label_smoothing']}")
    need(cfg["num_classes"] >= 0, f"--num_classes must be >= 0, got {cfg['num_classes']}")
    need(cfg["base_width"] >= 1, f"--base_width must be >= 1, got {cfg['base_width']}")
    need(cfg["keep_checkpoint_max"] >= 1, "--keep_checkpoint_max must be >= 1")
    need(cfg["num_cpu_replicas"] >= 0, "--num_cpu_replicas must be >= 0")
    need(cfg["shuffle_buffer"] >= 0, "--shuffle_buffer must be >= 0")
    gpus = cfg["num_gpus"]
    need(gpus is None or gpus >= -1, f"--num_gpus must be >= -1, got {gpus}")
    need(not (cfg["num_cpu_replicas"] and gpus not in (None, 0)),
         "--num_cpu_replicas and --num_gpus cannot be combined")
    need(not (cfg["eval_only"] and cfg["clean"]),
         "--eval_only with --clean would delete the checkpoint to evaluate")
    need(not (cfg["eval_only"] and cfg["pretrained_model_checkpoint_path"]),
         "--eval_only evaluates model_dir; use --model_dir, not "
         "--pretrained_model_checkpoint_path")
    if cfg["robustness"]:
        need(not cfg["clean"], "--robustness with --clean would delete the checkpoint to "
             "evaluate")
        need(not cfg["pretrained_model_checkpoint_path"], "--robustness evaluates model_dir; "
             "use --model_dir, not --pretrained_model_checkpoint_path")
        from preprocessing.corruptions.registry import parse_corruptions, parse_severities
        for key, parse in (("corruptions", parse_corruptions), ("severities", parse_severities)):
            try:
                parse(cfg[key])
            except ValueError as e:
                raise ConfigError(f"--{key}: {e}") from None
        need(0 <= cfg["corruption_jpeg_quality"] <= 100,
             "--corruption_jpeg_quality must be in 0..100")
        need(cfg["robustness_max_images"] >= 0, "--robustness_max_images must be >= 0")
        baseline = cfg["robustness_baseline"]
        need(not baseline or os.path.isfile(baseline),
             f"--robustness_baseline: file not found: {baseline}")
        cfg["eval_only"] = True  # a robustness run only reads model_dir
    need(not cfg["preprocessing_type"] or re.fullmatch(r"[a-z0-9_]+", cfg["preprocessing_type"]),
         f"--preprocessing_type: bad name {cfg['preprocessing_type']!r}")
    need(cfg["resnet_version"] in (1, 2), f"--resnet_version must be 1 or 2, got "
         f"{cfg['resnet_version']}")
    kp = cfg["dropblock_kp"]
    need(len(kp) == 2 and all(0.0 < k <= 1.0 for k in kp),
         f"--dropblock_kp needs two keep probabilities in (0, 1] (start,end), got {kp}")
    need(cfg["embedding_size"] >= 0, "--embedding_size must be >= 0")
    if cfg["resnet_version"] == 1:
        need(cfg["bl_alpha"] == 2.0 and cfg["bl_beta"] == 4,
             "--bl_alpha/--bl_beta apply to Big-Little Net only: set --resnet_version=2")
    need(cfg["autoaugment_type"] in ("",) + AUTOAUGMENT_POLICIES,
         f"--autoaugment_type must be one of {', '.join(AUTOAUGMENT_POLICIES)} (or empty), "
         f"got {cfg['autoaugment_type']!r}")
    need(0.0 <= cfg["random_erasing"] <= 1.0,
         f"--random_erasing must be in [0, 1], got {cfg['random_erasing']}")
    if cfg["randaugment"]:
        from preprocessing.randaugment import parse_randaugment_flag
        try:
            parse_randaugment_flag(cfg["randaugment"])
        except ValueError as e:
            raise ConfigError(f"--randaugment: {e}") from None
    mix = str(cfg["mixup_type"])
    need(mix in MIXUP_TYPES, f"--mixup_type must be one of {', '.join(MIXUP_TYPES)}, got {mix!r}")
    need(cfg["mixup_alpha"] > 0 and cfg["cutmix_alpha"] > 0 and cfg["rmix_alpha"] > 0,
         "--mixup_alpha, --cutmix_alpha and --rmix_alpha must be > 0")
    need(0.0 <= cfg["mix_prob"] <= 1.0 and 0.0 <= cfg["switch_prob"] <= 1.0,
         "--mix_prob and --switch_prob must be in [0, 1]")
    if cfg["multicrop"]:
        from preprocessing.multicrop import config_from_flags
        try:
            config_from_flags(cfg, default_size=224)
        except ValueError as e:
            raise ConfigError(f"--multicrop: {e}") from None
        need(mix == "0", f"--multicrop cannot be combined with --mixup_type={mix} (mixing "
             "needs one view per image)")
    need(cfg["kd_temp"] >= 0, f"--kd_temp must be >= 0, got {cfg['kd_temp']}")
    need(cfg["kd_weight"] >= 0 and cfg["kd_label_weight"] >= 0,
         "--kd_weight and --kd_label_weight must be >= 0")
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
        need(0.0 <= cfg["reinforce_p"] <= 1.0, "--reinforce_p must be in [0, 1]")
        need(cfg["reinforce_partner_max_gib"] >= 0, "--reinforce_partner_max_gib must be "
             ">= 0")
    _validate_head(cfg, need)
    need(not (cfg["teacher"] and cfg["multicrop"]),
         "--teacher (online distillation) cannot be combined with --multicrop")


TREX_KEYS = ("pr_hidden_layers", "pr_hidden_dim", "pr_bottleneck_dim", "pr_input_l2_norm",
             "clf_tau", "memory_size", "memory_ema")


def _validate_head(cfg: dict[str, Any], need) -> None:
    if cfg["head"] != "trex":
        changed = [k for k in TREX_KEYS if k in FLAGS and cfg[k] != FLAGS[k].default]
        need(not changed, f"--{changed[0] if changed else ''} applies to the t-ReX head: set "
             "--head=trex")
        return
    need(cfg["pr_hidden_layers"] >= 0, f"--pr_hidden_layers must be >= 0, got "
         f"{cfg['pr_hidden_layers']}")
    need(cfg["pr_hidden_dim"] >= 1 and cfg["pr_bottleneck_dim"] >= 1,
         "--pr_hidden_dim and --pr_bottleneck_dim must be >= 1")
    need(cfg["memory_size"] >= 0, f"--memory_size must be >= 0, got {cfg['memory_size']}")
    need(0.0 <= cfg["memory_ema"] < 1.0, f"--memory_ema must be in [0, 1), got "
         f"{cfg['memory_ema']}")
    need(not (cfg["memory_size"] and cfg["clf_tau"] <= 0), "--memory_size > 0 (OCM) needs "
         "--clf_tau > 0 (class means are compared by cosine)")
    need(str(cfg["mixup_type"]) == "0" or not cfg["memory_size"], "--memory_size > 0 (OCM) "
         "writes each image's label into the memory: it cannot be combined with --mixup_type")


def to_yaml(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None)


def make_config(presets: list[str] | None = None, **overrides) -> dict[str, Any]:
    """The resolved config without a command line (tests, notebooks, other tools)."""
    define_flags()
    cfg = {name: FLAGS[name].default for name in flag_names()}
    for path in presets or []:
        for key, value in load_preset(path).items():
            cfg[key] = _parse_value(key, value, path)
    for key, value in overrides.items():
        if key not in cfg:
            raise ConfigError(f"unknown key '{key}'")
        cfg[key] = value
    cfg["config"] = list(presets or [])
    return finalize(cfg)
