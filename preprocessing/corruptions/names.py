"""Names of the ImageNet-C corruptions in benchmark order (Hendrycks & Dietterich, ICLR
2019): the 15 standard ones, then the 4 extra ("validation") ones of their code. Kept apart
from ``registry`` so the report arithmetic can use them without building any TF code."""

STANDARD = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
            "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
            "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL = STANDARD + EXTRA
