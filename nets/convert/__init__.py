"""Converters from other frameworks' published weights to the networks of ``nets/``.

- ``torch_resnet``: torchvision and timm ResNet state dicts (PyTorch layout) -> the Keras
  ResNet of ``nets.factory.build_from_config`` with the settings that reproduce the source.

Modules here use numpy and Keras only (no TensorFlow import, no run directories); the
command-line entry that writes a run directory is ``import_weights.py`` at the top level.
"""
