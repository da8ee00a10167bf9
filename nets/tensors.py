"""Type aliases for the hints of nets/, which runs on every Keras 3 backend (TensorFlow, JAX,
PyTorch) and so names no backend's tensor type."""

from typing import Any

#: A backend tensor (tf.Tensor, jax.Array, torch.Tensor, np.ndarray) or a symbolic
#: ``keras.KerasTensor`` (the network builders are called on ``keras.Input``).
Tensor = Any
#: A static shape as Keras passes it to ``build`` and ``compute_output_shape``: one entry per
#: dimension, None where unknown.
Shape = tuple[int | None, ...]
