"""t-ReX training (Sariyildiz et al. 2023, "No Reason for No Supervision", ICLR; arXiv
2206.15369; spec trex.md): the network's head is ``nets.Projector`` -> ``nets.CosineClassifier``
(``--head=trex``), trained with plain cross-entropy over every multi-crop view
(``--multicrop=1,8``, train_step.py). With ``--memory_size > 0`` (OCM, default 8192) the
classifier's class vectors are not learned: before every step they are set to the class sums
of an ``engine.ocm.ClassMeanMemory``, and after the student's update an EMA copy of the whole
network (``--memory_ema``, 0.999; its BatchNorm in train mode, as the original) embeds the
global crop of every image into the memory. ``--memory_size=0`` is plain t-ReX (a learnable
cosine classifier). The projector is dropped for transfer: fine-tuning copies everything but
``projector`` and ``classifier`` (engine/finetune.py), the linear-probe suite reads the
pooling layer. The head's settings -> layers mapping is ``nets.factory.trex_head``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from engine.ocm import ClassMeanMemory

HEADS = ("linear", "trex")


class OnlineClassMeans:
    """The OCM state of a run: the memory, the EMA network and the three hooks the train loop
    calls around each step (all in cross-replica context)."""

    def __init__(self, cfg: dict, model: keras.Model,
                 build_model: Callable[[dict, int], keras.Model], num_classes: int) -> None:
        self.momentum = float(cfg["memory_ema"])
        self.classifier = model.get_layer("classifier")
        dim = int(self.classifier.kernel.shape[0])
        self.memory = ClassMeanMemory(int(cfg["memory_size"]), dim, num_classes,
                                      int(cfg["seed"]))
        self.ema = build_model(cfg, num_classes)
        self.ema.set_weights(model.get_weights())
        self.embedder = keras.Model(self.ema.inputs, self.ema.get_layer("projector").output)
        self.pairs = list(zip(self.ema.trainable_variables, model.trainable_variables))
        if any(a.shape != b.shape for a, b in self.pairs):
            raise ValueError("EMA network does not mirror the student's variables")

    def set_prototypes(self) -> None:
        """Classifier kernel [dim, C] <- the memory's class sums (no gradient flows into
        them: the kernel is not trainable under OCM)."""
        self.classifier.kernel.assign(tf.transpose(self.memory.class_sums()))

    def update_ema(self) -> None:
        m = self.momentum
        for ema_var, var in self.pairs:
            ema_var.assign(m * ema_var + (1.0 - m) * tf.cast(var, ema_var.dtype))

    def embed_fn(self, batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """Replica step: (raw projector outputs of the global crop, labels)."""
        images = batch["image"]
        if images.shape.rank == 5:  # multi-crop [B, G, H, W, 3]: the first global crop
            images = images[:, 0]
        embeddings = self.embedder(images, training=True)
        return tf.cast(embeddings, tf.float32), tf.cast(batch["label"], tf.int32)

    def checkpoint_items(self) -> dict:
        return {"ocm_memory": self.memory, "ocm_ema": self.ema}
