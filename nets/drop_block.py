"""DropBlock: drop contiguous square regions of a feature map.

Ghiasi, Lin, Le 2018, "DropBlock: A regularization method for convolutional networks"
(arXiv 1810.12890), Algorithm 1, with the conventions of clovaai/assembled-cnn:

- gamma = (1 - keep_prob) * (H * W) / bs**2 / ((H - bs + 1) * (W - bs + 1)) * gamma_scale,
  where bs = min(block_size, H, W) (the effective block size, so small maps still work);
- Bernoulli(gamma) seeds are sampled independently per example and channel, only where a whole
  block fits (centres bs // 2 <= i < H - (bs - 1) // 2: the same set as an (H - bs + 1) x
  (W - bs + 1) sample zero-padded by bs // 2 before and (bs - 1) // 2 after; done with an index
  mask so unknown H, W work), expanded by a bs x bs stride-1 "same" max-pool, inverted;
  the max-pool window must be static: with H or W unknown at trace time it is ``block_size``
  even on smaller maps (a seed then blanks the whole short axis instead of a bs x bs square);
- output = x * mask * numel(mask) / sum(mask) (a zero sum gives a zero output, not NaN).

The layer is the identity at inference (``training`` false) and whenever ``keep_prob`` is exactly
1.0. ``keep_prob`` is a non-trainable float32 scalar weight; the trainer assigns it from a schedule
(assembled-cnn: linear from 1.0 to 0.9 over the whole run), see ``dropblock_layers``.

Randomness: a ``keras.random.SeedGenerator`` owned by the layer gives a new seed every step, and a
hash of the input's content is added to it. Under ``tf.distribute.MirroredStrategy`` the
generator works in replica context (its state is a NONE-aggregation variable updated identically
on every replica, checked with TF 2.21 / Keras 3.15), but it then draws *the same* numbers on
every replica, so example i of every replica would get the same mask; the content hash (replicas
see different examples) decorrelates them. The summed seed pair feeds the stateless
``keras.random.uniform`` through a stateless ``SeedGenerator`` stand-in (``_TensorSeed``).
"""

from typing import Any

import keras
from keras import ops

from nets.tensors import Shape, Tensor


def _content_hash(x):
    """An int32 pair that changes with the content of ``x`` (graph-mode safe, no state)."""
    xf = ops.cast(x, "float32")
    # Two differently weighted sums, so a constant input still differs from its negation etc.
    s1 = ops.sum(xf)
    flat = ops.reshape(xf, (-1,))
    n = ops.shape(flat)[0]
    ramp = ops.cast(ops.mod(ops.arange(n), 9973), "float32")
    s2 = ops.sum(flat * ramp)
    # Map the (possibly huge or fractional) sums to int32 via their fractional bits.
    a = ops.cast(ops.mod(ops.abs(s1) * 1e3, 2.0**30), "int32")
    b = ops.cast(ops.mod(ops.abs(s2) * 1e3, 2.0**30), "int32")
    return ops.stack([a, b + n])


class _TensorSeed(keras.random.SeedGenerator):
    """Hands a precomputed seed tensor to ``keras.random`` ops, which accept only an int or a
    ``SeedGenerator``. Deliberately skips ``SeedGenerator.__init__``: it owns no state variable."""

    def __init__(self, seed):  # noqa: D107 - no super().__init__(): nothing to create
        self._seed = seed

    def next(self, ordered=True):
        return self._seed


@keras.saving.register_keras_serializable(package="assembled")
class DropBlock2D(keras.layers.Layer):
    """DropBlock on channels_last feature maps (``training`` must be passed by the caller)."""

    def __init__(self, block_size: int = 7, gamma_scale: float = 1.0, keep_prob: float = 1.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
        if not 0.0 < float(gamma_scale):
            raise ValueError(f"gamma_scale must be > 0, got {gamma_scale!r}")
        if not 0.0 < float(keep_prob) <= 1.0:
            raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob!r}")
        self.block_size = block_size
        self.gamma_scale = float(gamma_scale)
        self.initial_keep_prob = float(keep_prob)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: Shape) -> None:
        self.keep_prob = self.add_weight(
            name="keep_prob",
            shape=(),
            dtype="float32",
            initializer=keras.initializers.Constant(self.initial_keep_prob),
            trainable=False,
            autocast=False,  # read in float32 under mixed precision (0.9 is 0.8984 in bfloat16)
        )

    def _drop(self, x):
        shape = ops.shape(x)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        # Effective block size: a tensor (gamma, valid region) and, for the max-pool window, the
        # static value when H and W are known at trace time (else block_size; see module doc).
        bs = ops.minimum(ops.minimum(height, width), self.block_size)
        window = min([self.block_size] + [d for d in x.shape[1:3] if d is not None])
        h, w, bsf = (ops.cast(v, "float32") for v in (height, width, bs))
        gamma = (
            (1.0 - ops.convert_to_tensor(self.keep_prob)) * (h * w) / (bsf * bsf)
            / ((h - bsf + 1.0) * (w - bsf + 1.0)) * self.gamma_scale
        )
        step_seed = self.seed_generator.next()
        seed = step_seed + ops.cast(_content_hash(x), step_seed.dtype)
        noise = keras.random.uniform(
            (batch, height, width, channels), dtype="float32", seed=_TensorSeed(seed)
        )
        # Valid centres: rows bs//2 <= i < H - (bs-1)//2 (= an (H-bs+1)-row sample padded by bs//2
        # before and (bs-1)//2 after), same for columns.
        rows, cols = ops.arange(height), ops.arange(width)
        valid_rows = ops.logical_and(rows >= bs // 2, rows < height - (bs - 1) // 2)
        valid_cols = ops.logical_and(cols >= bs // 2, cols < width - (bs - 1) // 2)
        valid = ops.logical_and(valid_rows[:, None], valid_cols[None, :])[None, :, :, None]
        seeds = ops.cast(ops.logical_and(noise < gamma, valid), "float32")
        dropped = ops.max_pool(seeds, pool_size=window, strides=1, padding="same")
        mask = 1.0 - dropped
        scale = ops.cast(ops.size(mask), "float32") / ops.maximum(ops.sum(mask), 1.0)
        return ops.cast(ops.cast(x, "float32") * mask * scale, x.dtype)

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if not training:
            return x
        return ops.cond(
            ops.equal(ops.convert_to_tensor(self.keep_prob), 1.0), lambda: x, lambda: self._drop(x)
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            block_size=self.block_size,
            gamma_scale=self.gamma_scale,
            keep_prob=self.initial_keep_prob,
            seed=self.seed,
        )
        return config


def dropblock_layers(model: keras.Model) -> list[DropBlock2D]:
    """Every ``DropBlock2D`` of ``model`` (nested models included), in layer order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, DropBlock2D):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(dropblock_layers(layer))
    return found
