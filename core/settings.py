"""Every setting of a run, defined once: name, type, default, range, help, section, role.

The names and meanings are clovaai/assembled-cnn's flags (spec assemble-resnet.md §6) where
the original has them, and so are the defaults where the original's scripts rely on them
(ResNet-50, width 64, 7x7 stem, bn_momentum 0.997, 90 epochs, ...). Small-image datasets
(``small_<N>`` preprocessing: the embedded digits, CIFAR) start from ``SMALL_IMAGE_DEFAULTS``
instead, so ``python main_classification.py`` stays a one-minute demo.

Roles say what a setting is to a run directory (core/config.py applies them):
- ``arch``: decides the network; fixed at creation, a different value later is an error.
- ``data``: which images and labels; fixed for training, an evaluation may point elsewhere
  (same class count) and then writes to its own namespace.
- ``train``: how the network is trained; a resumed run may change it (recorded in the
  run's history), an evaluation ignores it.
- ``run``: where and how the process runs (model_dir, devices, threads); never stored as a
  contradiction.
- ``eval``: how an evaluation, robustness run or export is done.
- ``refused``: a flag of the original that does not exist here; giving it is an error with
  the reason in ``refused``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

KINDS = ("int", "float", "str", "bool", "enum", "floats", "ints", "strs", "multi")
SECTIONS = ("data", "run", "schedule", "optimizer", "network", "regularization",
            "distillation", "trex", "precision", "evaluation", "robustness", "export",
            "original")


NO_LEGACY = type("NoLegacy", (), {"__repr__": lambda self: "NO_LEGACY"})()


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str
    default: Any
    help: str
    section: str
    role: str = "train"
    choices: tuple = ()
    low: float | None = None  # inclusive bounds of a number, or of each list item
    high: float | None = None
    low_open: bool = False  # the bound itself is excluded
    high_open: bool = False
    optional: bool = False  # None is a valid value
    length: int | None = None  # exact list length
    min_items: int = 0  # list length bounds (besides an exact ``length``)
    max_items: int = 64
    refused: str = ""  # for role "refused": why the original's flag is not supported
    # The value of a run directory whose config.yaml predates the setting (what such runs
    # did), when it is not the default; NO_LEGACY: the default (core/rundir.read_config).
    legacy: Any = field(default_factory=lambda: NO_LEGACY)

    @property
    def is_list(self) -> bool:
        return self.kind in ("floats", "ints", "strs")


def _s(name, kind, default, help, section, role="train", **kw) -> Setting:
    return Setting(name, kind, default, help, section, role, **kw)


def _refused(name, kind, default, reason, help="") -> Setting:
    return Setting(name, kind, default, (help + " " if help else "") + f"Not supported: "
                   f"{reason}", "original", "refused", refused=reason)


AUTOAUGMENT_POLICIES = ("imagenet", "good", "v0", "cifar", "svhn")
MIXUP_TYPES = ("0", "mixup", "cutmix", "mixup_cutmix", "1", "2", "rmix")
LR_DECAY_TYPES = ("fixed", "exponential", "polynomial", "piecewise", "cosine")
DTYPES = ("fp32", "fp16", "bf16")
RESNET_SIZES = (18, 26, 34, 50, 101, 152, 200)  # 26: timm's resnet26 (bottleneck, 2-2-2-2)
# Seeds: keras.utils.set_random_seed feeds numpy (< 2**32) and TensorFlow (int64); the input
# pipeline folds seeds modulo 2**31 - 1 (engine/inputs.py), so larger seeds would repeat.
_BIG = 2 ** 31 - 1
# Upper bounds that are generous for real use and refuse what no machine can run. A network's
# size is bounded separately, from its estimated parameter count (core/config.py).
MAX_CLASSES = 1_000_000  # face-recognition heads have ~1e5-1e6 identities; ImageNet-21k 21843
MAX_BATCH = 131_072  # twice the largest published ImageNet batches (64k)
MAX_THREADS = 1024  # thread-pool sizes: more than any machine's hardware threads
MAX_REPLICAS = 256  # GPUs of one worker process (--num_gpus); also bounded by visible GPUs
MAX_CPU_REPLICAS = 64  # logical CPU devices (each holds a full copy of the network)
MAX_STRING = 4096  # characters of a path or other text value (Linux PATH_MAX)
_BENCHMARK = ("the TF Model Garden's benchmark/BigQuery logger: metrics go to "
              "model_dir/metrics.jsonl and TensorBoard")
_DEAD = "dead in the original (passed around, never used by its model or loss)"
_INCEPTION = ("the inception_* colour distortion of the original's TF-Hub teacher inputs; "
              "teachers here get their own eval preprocessing (kd/teachers.py)")

_TABLE = [
    # --- data
    _s("dataset_name", "str", "digits", "Registry key (imagenet, food101, cifar10, ...), "
       "'digits' (embedded default), or a path to a TFRecord folder / class-per-folder image "
       "tree.", "data", "data"),
    _s("data_dir", "str", None, "TFRecord directory, image-folder root or TFDS data_dir for a "
       "registry dataset.", "data", "data", optional=True),
    _s("train_regex", "str", "train-*", "Glob of training shards inside data_dir.", "data",
       "data"),
    _s("val_regex", "str", "validation-*", "Glob of evaluation shards inside data_dir.",
       "data", "data"),
    _s("num_classes", "int", 0, "Override the class count (0 = from the dataset).", "data",
       "data", low=0, high=MAX_CLASSES),
    _s("label_file", "str", None, "Class names, one per line in label order (default: the "
       "dataset's labels.txt / folder names); copied into the run as labels.txt and used by "
       "predict and export.", "data", "data", optional=True),
    _s("preprocessing_type", "str", "", "imagenet, imagenet_224_256, imagenet_224_256a, "
       "imagenet_<N>, imagenet_<N>a or small_<N>; empty = the dataset's default (the "
       "original's default is imagenet).", "data", "data"),
    _s("training_random_crop", "bool", True, "imagenet* training crop: random-resized crop "
       "with min_object_covered 0.1 (True) or 1.0 (False: the whole image, only aspect "
       "jitter), as the original.", "data", "train"),
    _s("crop_sampler", "enum", "inception", "Random-resized-crop sampler of imagenet* "
       "training crops and of --multicrop: inception (TF sample_distorted_bounding_box, area "
       "~ h^2; the original's, and what runs made before this setting used) or torchvision "
       "(RandomResizedCrop.get_params: area uniform in the scale, log-uniform aspect ratio, "
       "10 tries, then a centre crop; DR, t-ReX). A run keeps its sampler on resume.", "data",
       "train", choices=("inception", "torchvision"), legacy="inception"),
    _s("dct_method", "enum", "INTEGER_ACCURATE", "JPEG decoder's IDCT (tf.io.decode_jpeg "
       "dct_method; the original's default INTEGER_ACCURATE). '' = the platform default.",
       "data", "data", choices=("INTEGER_ACCURATE", "INTEGER_FAST", "")),
    _s("shuffle_buffer", "int", 0, "Record shuffle buffer (0 = 10000 for imagenet, else 1000 "
       "or the dataset size if smaller; a value larger than the training split is lowered to "
       "it).", "data", "train", low=0, high=10_000_000),
    _s("strict", "bool", False, "Fail on an undecodable image instead of skipping and "
       "counting it.", "data", "run"),
    _s("skip_corrupt_records", "bool", False, "Go on without the unreadable records of "
       "damaged TFRecord shards (a record failing its checksum, a truncated shard: the rest "
       "of that shard is lost) instead of refusing them: one verification pass reads every "
       "shard before the run and prints the records lost per shard, and evaluations with "
       "damaged eval shards are marked incomplete. Undecodable images inside intact records "
       "are --strict's business.", "data", "data"),
    # --- run
    _s("model_dir", "str", None, "The run directory: resolved config, checkpoints, metrics "
       "(default: runs/<dataset_name>). Every later mode reads the run's settings from it.",
       "run", "run", optional=True),
    _s("clean", "bool", False, "Delete model_dir before starting.", "run", "run"),
    _s("seed", "int", 0, "Seed of data order, augmentation and initialisation.", "run",
       "train", low=0, high=_BIG),
    _s("deterministic", "bool", False, "Enable TF op determinism (bitwise reproducible runs, "
       "slower).", "run", "run"),
    _s("inter_op_parallelism_threads", "int", 0, "TensorFlow inter-op thread pool size "
       "(0 = TensorFlow's choice).", "run", "run", low=0, high=MAX_THREADS),
    _s("intra_op_parallelism_threads", "int", 0, "TensorFlow intra-op thread pool size "
       "(0 = TensorFlow's choice).", "run", "run", low=0, high=MAX_THREADS),
    # --- schedule
    _s("batch_size", "int", 32, "Global training batch, split over replicas (at most the "
       "training split).", "schedule", low=1, high=MAX_BATCH),
    _s("val_batch_size", "int", 256, "Global evaluation / export-check batch (a value larger "
       "than the evaluation split is lowered to it).", "schedule", "eval", low=1,
       high=MAX_BATCH),
    _s("train_epochs", "int", 90, "Epochs to train (0 = evaluate only).", "schedule",
       low=0, high=1_000_000),
    _s("epochs_between_evals", "int", 1, "Evaluate every this many epochs.", "schedule",
       low=1, high=1_000_000),
    _s("ratio_fine_eval", "float", 1.0, "After ratio_fine_eval*train_epochs, evaluate every "
       "epoch.", "schedule", low=0.0, high=1.0),
    _s("stop_threshold", "float", None, "Stop training once an evaluation's top-1 is at least "
       "this (0-1; the original's flag).", "schedule", optional=True, low=0.0, high=1.0),
    _s("max_train_steps", "int", 0, "Stop after this many optimizer steps in total (0 = no "
       "cap).", "schedule", low=0, high=2 ** 62),
    _s("steps_per_loop", "int", 10, "Train steps run inside one tf.function call.",
       "schedule", "run", low=1, high=1_000_000),
    _s("save_checkpoints_epochs", "float", 1.0, "Save a checkpoint every this many epochs "
       "(fractions save mid-epoch, rounded to whole steps); the last step is always saved.",
       "schedule", low=0.0, low_open=True, high=1_000_000),
    _s("checkpoint_every_minutes", "float", 5.0, "Also save a checkpoint when this many "
       "minutes passed since the last one (0 = off), so a kill -9 or a crash loses at most "
       "this much work (SIGTERM/SIGINT save at the next step boundary anyway).", "schedule",
       "run", low=0.0, high=1_000_000),
    _s("checkpoint_every_steps", "int", 0, "Also save a checkpoint every this many steps "
       "(0 = off).", "schedule", "run", low=0, high=2 ** 62),
    _s("keep_checkpoint_max", "int", 20, "Checkpoints kept in model_dir besides best/ "
       "(0 = keep all, as the original).", "schedule", "run", low=0, high=1_000_000),
    _s("num_best_ckpt_to_keep", "int", 3, "Best checkpoints by top-1 kept in model_dir/best "
       "(ranked in best/best.json).", "schedule", "run", low=1, high=1000),
    _s("keep_ckpt_every_eval", "bool", False, "Also copy every evaluated checkpoint to "
       "model_dir/periodical (the original's default was True).", "schedule", "run"),
    # --- optimizer
    _s("base_learning_rate", "float", 0.01, "Peak learning rate (not batch-scaled).",
       "optimizer", low=0.0, low_open=True, high=1e4),
    _s("learning_rate_decay_type", "enum", "exponential", "LR decay after warmup.",
       "optimizer", choices=LR_DECAY_TYPES),
    _s("learning_rate_decay_factor", "float", 0.94, "exponential: staircase factor.",
       "optimizer", low=0.0, low_open=True, high=1.0),
    _s("num_epochs_per_decay", "float", 2.0, "exponential: epochs per decay step; polynomial: "
       "epochs to reach end_learning_rate.", "optimizer", low=0.0, low_open=True, high=1e9),
    _s("end_learning_rate", "float", 1e-4, "polynomial: final LR.", "optimizer", low=0.0,
       high=1e4),
    _s("piecewise_lr_boundary_epochs", "floats", [30.0, 60.0, 80.0, 90.0], "piecewise: epoch "
       "boundaries (absolute epochs).", "optimizer", low=0.0, high=1e9),
    _s("piecewise_lr_decay_rates", "floats", [1.0, 0.1, 0.01, 0.001, 1e-4], "piecewise: LR "
       "multipliers, one more than boundaries.", "optimizer", low=0.0, high=1e4),
    _s("lr_warmup_epochs", "float", 0.0, "Linear warmup from 0 to the peak LR.", "optimizer",
       low=0.0, high=1e9),
    _s("momentum", "float", 0.9, "SGD momentum.", "optimizer", low=0.0, high=1.0,
       high_open=True),
    _s("nesterov", "bool", False, "Nesterov momentum.", "optimizer"),
    _s("weight_decay", "float", 4e-5, "L2 coefficient: wd * sum(0.5*||w||^2) over conv/dense "
       "kernels (BN parameters and biases are not decayed).", "optimizer", low=0.0, high=1.0),
    _s("bn_momentum", "float", 0.997, "BatchNorm moving-average momentum.", "optimizer",
       low=0.0, high=1.0, high_open=True),
    _s("label_smoothing", "float", 0.0, "y*(1-eps) + eps/C.", "optimizer", low=0.0, high=1.0,
       high_open=True),
    _s("cls_loss_type", "enum", "softmax", "Classification loss: softmax cross-entropy (the "
       "loss of every published recipe; the original's sigmoid variant is not ported).",
       "optimizer", choices=("softmax",)),
    # --- network
    _s("resnet_version", "int", 1, "1 = ResNet v1.5; 2 = Big-Little Net (assembled-cnn).",
       "network", "arch", choices=(1, 2)),
    _s("resnet_size", "int", 50, "18, 34 (basic blocks), 26, 50, 101, 152, 200 (bottleneck).",
       "network", "arch", choices=RESNET_SIZES),
    _s("base_width", "int", 64, "Width of the first stage (64 for the published ResNets).",
       "network", "arch", low=1, high=4096),
    _s("stem_type", "enum", "default", "default: 7x7/2 conv + max-pool; small: 3x3/1 conv, no "
       "pool (32-64 px images).", "network", "arch", choices=("default", "small")),
    _s("zero_gamma", "bool", False, "Initialise the last BN gamma of each residual branch to "
       "0.", "network"),
    _s("use_resnet_d", "bool", False, "ResNet-D: deep 3x3 stem and avg-pool projection "
       "shortcuts.", "network", "arch"),
    _s("use_se_block", "bool", False, "Squeeze-Excitation (ratio 16) in every block.",
       "network", "arch"),
    _s("se_bias", "bool", False, "SE 1x1 convs with biases (timm's SEModule, for imported "
       "seresnet weights; needs use_se_block).", "network", "arch"),
    _s("input_standardization", "enum", "none", "imagenet: map the preprocessed input to "
       "torchvision/timm's (rgb/255 - mean)/std inside the network (imported weights; "
       "nets/input_standardization.py).", "network", "arch", choices=("none", "imagenet")),
    _s("use_sk_block", "bool", False, "Selective-Kernel 3x3 (one conv to 2x width, r=2, "
       "L=32).", "network", "arch"),
    _s("anti_alias_type", "str", "", "Blur-pool placement: comma list of sconv, max, proj.",
       "network", "arch"),
    _s("anti_alias_filter_size", "int", 0, "Binomial blur filter size 2..7 (with a type).",
       "network", "arch", low=0, high=7),
    _s("no_downsample", "bool", False, "Stride 1 in the last stage (output stride 16), as the "
       "original's flag.", "network", "arch"),
    _s("original_shortcuts", "bool", False, "Project in the first block of every block group "
       "even where the shape does not change, as clovaai/assembled-cnn builds its networks "
       "(extra 1x1+BN shortcuts in its Big-Little nets): needed to load its checkpoints.",
       "network", "arch"),
    _s("stem_pool_padding", "enum", "symmetric", "Stem max-pool padding: 'symmetric' (1 per "
       "side, torchvision/timm) or 'same' (TensorFlow SAME, the original's): needed to load "
       "its checkpoints.", "network", "arch", choices=("symmetric", "same")),
    _s("pool_type", "enum", "gap", "Global pooling: average or GeM (p=3).", "network", "arch",
       choices=("gap", "gem")),
    _s("embedding_size", "int", 0, "Dense+BN embedding before the classifier (0 = none).",
       "network", "arch", low=0, high=65_536),
    _s("bl_alpha", "float", 2.0, "Big-Little Net width divisor of the little branch "
       "(--resnet_version=2).", "network", "arch", low=1.0, high=64.0),
    _s("bl_beta", "int", 4, "Big-Little Net depth divisor of the little branch "
       "(--resnet_version=2).", "network", "arch", low=1, high=64),
    _s("data_format", "enum", None, "Tensor layout: channels_last (the only layout of these "
       "Keras networks; cuDNN/XLA pick the GPU layout). The original's channels_first is "
       "refused.", "network", "run", choices=("channels_last",), optional=True),
    # --- regularisation
    _s("mixup_type", "enum", "0", "Batch mixing: 0 = off; mixup, cutmix, mixup_cutmix (timm "
       "semantics); rmix (saliency-guided R-Mix); 1 (the original's: reads 2x batch per step "
       "and mixes the halves), 2 (the original's same-batch type).", "regularization",
       choices=MIXUP_TYPES),
    _s("mixup_alpha", "float", 0.2, "mixup and types 1/2: lambda ~ Beta(alpha, alpha) (the "
       "original's 0.2).", "regularization", low=0.0, low_open=True, high=1e3),
    _s("cutmix_alpha", "float", 1.0, "CutMix: lambda ~ Beta(alpha, alpha).",
       "regularization", low=0.0, low_open=True, high=1e3),
    _s("mix_prob", "float", 1.0, "Probability that a batch is mixed at all.",
       "regularization", low=0.0, high=1.0),
    _s("switch_prob", "float", 0.5, "mixup_cutmix: probability of CutMix instead of mixup.",
       "regularization", low=0.0, high=1.0),
    _s("rmix_alpha", "float", 1.0, "R-Mix: (w1, w2) ~ Dirichlet(alpha, alpha) per batch (the "
       "official CIFAR default; it used 0.2 on ImageNet).", "regularization", low=0.0,
       low_open=True, high=1e3),
    _s("autoaugment_type", "enum", "", "AutoAugment policy: imagenet, good, v0, cifar or svhn "
       "(empty = off).", "regularization", choices=("",) + AUTOAUGMENT_POLICIES),
    _s("autoaugment_magnitudes", "enum", "relative", "AutoAugment's Translate / Cutout "
       "sizes: relative (fractions of the image side: translate up to torchvision's 150/331, "
       "cutout's pad the original's 100/224) or original (the TF original's 250 / 100 px, "
       "which blank 3-16 % of images at 32-224 px; runs made before this setting used it "
       "and keep it on resume). Other ops are the same in both.", "regularization",
       choices=("relative", "original"), legacy="original"),
    _s("randaugment", "str", "", "RandAugment 'N,M[,std]': N ops, magnitude M in 0-10 (DR's "
       "14-op list), optional magnitude noise std; empty = off.", "regularization"),
    _s("randaugment_fill", "int", 0, "Value (all channels) of the pixels RandAugment's "
       "geometric ops uncover: 0 = torchvision's and ml-dr's; 128 = the original TF "
       "AutoAugment's, which runs before this setting used (their config.yaml lacks it and "
       "keeps 128). AutoAugment always fills 128.", "regularization", low=0, high=255,
       legacy=128),
    _s("random_erasing", "float", 0.0, "RandomErasing probability p (exactly p; 0 = off).",
       "regularization", low=0.0, high=1.0),
    _s("use_dropblock", "bool", False, "DropBlock (block 7) after every BN of stages 3 and "
       "4.", "regularization"),
    _s("dropblock_kp", "floats", [1.0, 0.9], "DropBlock keep_prob start,end: linear over the "
       "run.", "regularization", low=0.0, low_open=True, high=1.0, length=2),
    _s("multicrop", "str", "", "Multi-crop 'G,L': G global and L local random-resized crops "
       "per image, CE averaged over all crops (t-ReX: 1,8); empty = off.", "regularization"),
    _s("multicrop_global_size", "int", 0, "Global crop size (0 = the preprocessing's train "
       "size).", "regularization", low=0, high=4096),
    _s("multicrop_local_size", "int", 96, "Local crop size (t-ReX: 96 for 224 px globals).",
       "regularization", low=1, high=4096),
    _s("multicrop_global_scale", "floats", [0.25, 1.0], "Global crop area range min,max "
       "(fraction of the image).", "regularization", low=0.0, low_open=True, high=1.0,
       length=2),
    _s("multicrop_local_scale", "floats", [0.05, 0.25], "Local crop area range min,max.",
       "regularization", low=0.0, low_open=True, high=1.0, length=2),
    # --- distillation
    _s("kd_temp", "float", 0.0, "Distillation temperature T (0 = off): loss = "
       "kd_label_weight * CE(labels) + kd_weight * T^2 * CE(softmax(teacher/T), student/T).",
       "distillation", low=0.0, high=1e3),
    _s("kd_weight", "float", 1.0, "Weight of the distillation term (the original: 1).",
       "distillation", low=0.0, high=1e6),
    _s("kd_label_weight", "float", 1.0, "Weight of the label CE term under distillation (the "
       "original: 1; dataset reinforcement: 0).", "distillation", low=0.0, high=1e6),
    _s("kd_logits_path", "str", "", "Side-car directory of offline teacher logits (python -m "
       "kd.extract_logits); empty with --kd_temp = read 'image/logit' from the image "
       "TFRecords (the original's format).", "distillation"),
    _s("reinforce_data_path", "str", "", "Dataset reinforcement: side-car directory written "
       "by python -m kd.reinforce; each image replays one of its stored augmentations with "
       "the teacher's densified top-K probabilities as target (needs --kd_temp=1).",
       "distillation"),
    _s("reinforce_p", "float", 0.99, "Probability of replaying a stored sample (else a fresh "
       "view of the same augmentation with a one-hot target), as DR.", "distillation",
       low=0.0, high=1.0),
    _s("reinforce_partner_max_gib", "float", 4.0, "Side-cars with mixing samples: the "
       "training shards are held in memory for the partners' pixels; refuse shards larger "
       "than this (GiB).", "distillation", low=0.0, high=1e6),
    _s("teacher", "str", "", "Online distillation: teacher spec(s) run inside the train step "
       "on the same augmented view (run:DIR, keras:FILE[@prep], savedmodel:DIR[@prep]; "
       "comma-separated = ensemble averaged in probability space).", "distillation"),
    # --- t-ReX head
    _s("head", "enum", "linear", "Classifier head: linear (Dense) or trex (L2-norm -> "
       "projector -> cosine classifier; with --memory_size > 0 its class vectors are OCM "
       "class means).", "trex", "arch", choices=("linear", "trex")),
    _s("pr_hidden_layers", "int", 3, "t-ReX projector: Linear+BN+GELU blocks (t-ReX 3, t-ReX* "
       "1).", "trex", "arch", low=0, high=64),
    _s("pr_hidden_dim", "int", 2048, "t-ReX projector: width of the hidden blocks.", "trex",
       "arch", low=1, high=65_536),
    _s("pr_bottleneck_dim", "int", 256, "t-ReX projector: output (bottleneck) width.", "trex",
       "arch", low=1, high=65_536),
    _s("pr_input_l2_norm", "bool", True, "t-ReX projector: L2-normalise the pooled feature "
       "first.", "trex", "arch"),
    _s("clf_tau", "float", 0.1, "t-ReX cosine classifier temperature (<= 0: plain linear).",
       "trex", "arch", low=-1e3, high=1e3),
    _s("memory_size", "int", 8192, "t-ReX OCM memory entries (0 = learnable cosine "
       "classifier, plain t-ReX).", "trex", "arch", low=0, high=1_000_000),
    _s("memory_ema", "float", 0.999, "t-ReX OCM: momentum of the EMA network that fills the "
       "memory.", "trex", low=0.0, high=1.0, high_open=True),
    # --- precision and distribution
    _s("dtype", "enum", "fp32", "fp32, fp16 (loss scaling) or bf16 (mixed precision; logits "
       "in fp32).", "precision", "train", choices=DTYPES),
    _s("loss_scale", "str", None, "fp16 loss scaling: 'dynamic' (default, starting at 2^15) "
       "or a positive number to start the dynamic scale at (the original's static value; "
       "non-finite steps are still skipped and the scale halved).", "precision",
       optional=True),
    _s("num_gpus", "int", None, "GPUs for MirroredStrategy (-1 = all; default 1 if a GPU "
       "exists, else 0). MultiWorkerMirroredStrategy when TF_CONFIG is set.", "precision",
       "run", optional=True, low=-1, high=MAX_REPLICAS),
    _s("num_cpu_replicas", "int", 0, "Split the CPU into this many logical devices and "
       "mirror over them (testing data parallelism without GPUs).", "precision", "run",
       low=0, high=MAX_CPU_REPLICAS),
    _s("all_reduce_alg", "enum", None, "MirroredStrategy all-reduce: nccl or "
       "hierarchical_copy (default: TensorFlow's choice).", "precision", "run",
       choices=("nccl", "hierarchical_copy"), optional=True),
    # --- evaluation, fine-tuning
    _s("eval_only", "bool", False, "Evaluate a checkpoint of model_dir with the run's own "
       "settings and exit; results go to model_dir/eval_only/<data>/.", "evaluation", "run"),
    _s("eval_checkpoint", "str", "latest", "Which checkpoint --eval_only, --robustness and "
       "--export_only use: latest, best, auto (best/ if the run has one, else latest), or "
       "a checkpoint prefix of the run (DIR/ckpt-N, DIR/best/ckpt-N).", "evaluation",
       "eval"),
    _s("zeroshot_eval", "bool", False, "Retrieval evaluation: Recall@k of the pooled features "
       "on the eval split (query excluded; label -1 = distractor) next to top-1; best/ is "
       "then ranked by recall_at_1.", "evaluation", "eval"),
    _s("recall_at_k", "ints", [1, 5], "k values of Recall@k for --zeroshot_eval.",
       "evaluation", "eval", low=1, high=10_000, min_items=1),
    _s("eval_similarity", "enum", "cosine", "--zeroshot_eval similarity: cosine or "
       "euclidean.", "evaluation", "eval", choices=("cosine", "euclidean")),
    _s("pretrained_model_checkpoint_path", "str", None, "Fine-tune from this run directory or "
       "checkpoint prefix of ours: every weight except the classifier is restored, BN "
       "statistics included.", "evaluation", "train", optional=True),
    # --- robustness
    _s("robustness", "str", None, "Evaluate the --eval_checkpoint of model_dir on corrupted "
       "data and exit: on_the_fly (corrupt the eval split in the input pipeline), tree:DIR "
       "(ImageNet-C layout DIR/<corruption>/<severity>/<class>/<file>) or "
       "tfds:NAME[@DATA_DIR] (imagenet2012_corrupted, cifar10_corrupted).", "robustness",
       "run", optional=True),
    _s("corruptions", "str", "all", "Corruptions for --robustness: all (19), standard (15), "
       "extra (4) or a comma list of names.", "robustness", "eval"),
    _s("severities", "str", "1-5", "Severities for --robustness: e.g. 1-5 or 1,3,5.",
       "robustness", "eval"),
    _s("corruption_seed", "int", 0, "Seed of the on-the-fly corruptions (the same seed as "
       "python -m datasets.build_corrupted gives the same pixels).", "robustness", "eval",
       low=0, high=_BIG),
    _s("corruption_jpeg_quality", "int", 85, "On the fly: JPEG-encode each corrupted image at "
       "this quality, as ImageNet-C's files are (0 = off).", "robustness", "eval", low=0,
       high=100),
    _s("robustness_max_images", "int", 0, "On the fly: evaluate only the first N eval images "
       "(0 = all); the same images for every corruption.", "robustness", "eval", low=0,
       high=2 ** 62),
    _s("robustness_baseline", "str", None, "report.json of another run's --robustness to "
       "normalise CE by instead of AlexNet (use it for any dataset but ImageNet).",
       "robustness", "eval", optional=True),
    _s("robustness_dir", "str", None, "Where the report, table and plots go (default "
       "model_dir/robustness/<tree|tfds|on_the_fly>).", "robustness", "eval", optional=True),
    # --- export
    _s("export_dir", "str", None, "Write a SavedModel here (after training, or of the "
       "evaluated checkpoint with --eval_only / --export_only) and verify it.", "export",
       "run", optional=True),
    _s("export_format", "strs", ["savedmodel"], "Comma list of what --export_dir gets, each "
       "reloaded and checked on the eval split: savedmodel (JPEG bytes in), keras "
       "(model.keras), litert (model.tflite; needs ai-edge-litert), onnx (model.onnx; needs "
       "tf2onnx, onnxruntime); keras/litert/onnx take the preprocessed float image "
       "(export_formats.json says how).", "export", "run", min_items=1, max_items=4,
       choices=("savedmodel", "keras", "litert", "onnx")),
    _s("export_only", "bool", False, "Export the --eval_checkpoint of model_dir to "
       "--export_dir and exit (no training, no evaluation).", "export", "run"),
    _s("export_decoder_type", "enum", "jpeg", "Encoded-image signature decoder: jpeg (JPEG, "
       "PNG, BMP, GIF through tf.io.decode_image; the original's webp is not decodable by "
       "TensorFlow).", "export", "eval", choices=("jpeg",)),
    # --- the original's flags that do not exist here (each refused with its reason)
    _refused("hooks", "strs", None, "TF1 Estimator hooks: the train loop always logs loss, "
             "top-1, LR and img/s to the console, TensorBoard and metrics.jsonl"),
    _refused("use_synthetic_data", "bool", None, "zero images train no classifier; measure "
             "throughput with bench/bench_resnet50.py"),
    _refused("benchmark_logger_type", "str", None, _BENCHMARK),
    _refused("benchmark_test_id", "str", None, _BENCHMARK),
    _refused("benchmark_log_dir", "str", None, _BENCHMARK),
    _refused("gcp_project", "str", None, _BENCHMARK),
    _refused("bigquery_data_set", "str", None, _BENCHMARK),
    _refused("bigquery_run_table", "str", None, _BENCHMARK),
    _refused("bigquery_run_status_table", "str", None, _BENCHMARK),
    _refused("bigquery_metric_table", "str", None, _BENCHMARK),
    _refused("use_hyperdash", "bool", None, "Hyperdash (a discontinued hosted logger): use "
             "TensorBoard on model_dir"),
    _refused("logit_type", "str", None, _DEAD),
    _refused("arc_s", "float", None, _DEAD),
    _refused("arc_m", "float", None, _DEAD),
    _refused("use_ranking_loss", "str", None, _DEAD),
    _refused("with_drawing_bbox", "bool", None, "bounding-box summaries were never wired into "
             "the original's training path, and the ImageNet boxes are ignored by its crops"),
    _refused("cb_distortion_range", "float", None, _INCEPTION),
    _refused("cr_distortion_range", "float", None, _INCEPTION),
    _refused("use_fast_color_distort", "bool", None, _INCEPTION),
]

SETTINGS: dict[str, Setting] = {s.name: s for s in _TABLE}
assert len(SETTINGS) == len(_TABLE), "a setting is defined twice"
# The value a run directory whose config.yaml predates a setting used, where that must not
# follow the default: each Setting's `legacy` (core/rundir.read_config via stored_defaults).
LEGACY_VALUES: dict[str, Any] = {n: s.legacy for n, s in SETTINGS.items()
                                 if s.legacy is not NO_LEGACY}

# Small images (digits, CIFAR: preprocessing small_<N>): a small network and a short
# schedule instead of the original's ImageNet defaults. Presets and flags override these.
SMALL_IMAGE_DEFAULTS: dict[str, Any] = {
    "resnet_size": 18, "base_width": 16, "stem_type": "small", "bn_momentum": 0.9,
    "batch_size": 64, "train_epochs": 12, "base_learning_rate": 0.1,
    "learning_rate_decay_type": "cosine", "lr_warmup_epochs": 1.0, "weight_decay": 5e-4,
    "keep_checkpoint_max": 5,
}
DEFAULT_PROFILES = {"original": {}, "small_images": SMALL_IMAGE_DEFAULTS}


def defaults(profile: str = "original") -> dict[str, Any]:
    """Every non-refused setting at its default (copies of list values)."""
    out = {name: (list(s.default) if isinstance(s.default, list) else s.default)
           for name, s in SETTINGS.items() if s.role != "refused"}
    out.update(DEFAULT_PROFILES[profile])
    return out


def stored_defaults(profile: str = "original") -> dict[str, Any]:
    """What a stored run config that lacks a setting means: its legacy value where it has
    one (runs written before it existed did that), else the default."""
    out = defaults(profile)
    out.update({n: s.legacy for n, s in SETTINGS.items()
                if s.role != "refused" and s.legacy is not NO_LEGACY})
    return out


def names(role: str | None = None) -> list[str]:
    return [n for n, s in SETTINGS.items() if role is None or s.role == role]


def check(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid value of setting ``name`` (None when it is). Checks the
    type, the choices and the range, whether or not the setting's feature is on."""
    s = SETTINGS[name]
    if value is None:
        return None if s.optional or s.role == "refused" else "must be set"
    items = value if s.is_list else [value]
    if s.is_list:
        if not isinstance(value, (list, tuple)):
            return f"expected a list, got {value!r}"
        if s.length is not None and len(value) != s.length:
            return f"needs {s.length} values, got {len(value)}"
        if len(value) < s.min_items:
            return f"needs at least {s.min_items} value(s), got {len(value)}"
        if len(value) > s.max_items:
            return f"takes at most {s.max_items} values, got {len(value)}"
    for v in items:
        problem = _check_item(s, v)
        if problem:
            return problem
    return None


def _check_item(s: Setting, v: Any) -> str | None:
    kind = {"floats": "float", "ints": "int", "strs": "str", "multi": "str"}.get(s.kind, s.kind)
    if kind == "enum":
        if v not in s.choices:
            return f"must be one of {', '.join(map(repr, s.choices))}, got {v!r}"
        return None
    if kind == "bool" and not isinstance(v, bool):
        return f"expected true/false, got {v!r}"
    if kind == "int" and (isinstance(v, bool) or not isinstance(v, int)):
        return f"expected an integer, got {v!r}"
    if kind == "float" and (isinstance(v, bool) or not isinstance(v, (int, float))):
        return f"expected a number, got {v!r}"
    if kind == "float" and isinstance(v, float) and not math.isfinite(v):
        return f"must be a finite number, got {v!r}"
    if kind == "str":
        if not isinstance(v, str):
            return f"expected a string, got {v!r}"
        if len(v) > MAX_STRING:
            return f"is longer than {MAX_STRING} characters ({len(v)})"
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            return f"must not contain control characters (newline, tab, NUL, ...), got {v!r}"
    if s.choices and v not in s.choices:
        return f"must be one of {', '.join(map(str, s.choices))}, got {v!r}"
    if s.low is not None and (v < s.low or (s.low_open and v == s.low)):
        return f"must be {'>' if s.low_open else '>='} {_number(s.low)}, got {v!r}"
    if s.high is not None and (v > s.high or (s.high_open and v == s.high)):
        return f"must be {'<' if s.high_open else '<='} {_number(s.high)}, got {v!r}"
    return None


def _number(x: float) -> str:
    """A bound as people write it: 1048576 and 0.5 rather than 1.04858e+06."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"
