"""ImageNet-C corruptions in TensorFlow (Hendrycks & Dietterich, ICLR 2019).

``registry.CORRUPTIONS`` maps each of the 19 names to ``fn(image, severity, seed)``.
"""
