"""ImageNet-C noise and digital corruptions (Hendrycks & Dietterich 2019) against the
``imagecorruptions-imaug`` reference: the deterministic digital ones pixel for pixel, the
random noise ones in distribution (their random stream is TensorFlow's, not NumPy's)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from corruption_oracle import eager_repeatable, photos, psnr, reference, severity_psnrs

from preprocessing.corruptions import digital, noise
from preprocessing.corruptions.common import SEVERITIES

NOISE = {"gaussian_noise": noise.gaussian_noise, "shot_noise": noise.shot_noise,
         "impulse_noise": noise.impulse_noise, "speckle_noise": noise.speckle_noise}
DIGITAL = {"brightness": digital.brightness, "contrast": digital.contrast,
           "saturate": digital.saturate, "pixelate": digital.pixelate,
           "jpeg_compression": digital.jpeg_compression}
ALL = {**NOISE, **DIGITAL}
IMPULSE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)


@pytest.fixture(scope="module")
def images():
    return photos(64)


@pytest.fixture(scope="module")
def oracle_images(images):
    """The photos, a non-square crop, and a synthetic image full of grey pixels and tied
    channel maxima (the corner cases of skimage's HSV conversion)."""
    rng = np.random.default_rng(1)
    synthetic = (rng.integers(0, 5, (48, 40, 3)) * 63).astype(np.uint8)
    synthetic[:16] = synthetic[:16, :, :1]
    return list(images) + [np.ascontiguousarray(images[0][3:60, 5:52]), synthetic]


def _run(fn, image, severity, seed):
    return fn(tf.constant(image), severity, tf.constant(seed, tf.int32)).numpy()


@pytest.mark.parametrize("name", sorted(ALL))
def test_output_and_severity_order(name, images):
    fn = ALL[name]
    for image in images:
        scores = severity_psnrs(lambda im, s: _run(fn, im, s, [3, s]), image)
        if name == "saturate":
            # Not monotone in the reference either: severities 1-2 desaturate (x .3, x .1),
            # 3-5 oversaturate (x 2, x 5 + .1, x 20 + .2), and on some photos severity 5
            # is closer to the clean image than severity 1. Each branch is monotone.
            assert scores[0] > scores[1] and scores[2] > scores[3] > scores[4], scores
        else:
            assert all(a > b for a, b in zip(scores, scores[1:])), scores


@pytest.mark.parametrize("name", sorted(ALL))
def test_seeded_outputs_repeat_and_follow_the_seed(name, images):
    fn = ALL[name]
    seeds = [[11, 1], [11, 2], [12, 1]]
    for severity in SEVERITIES:
        eager = eager_repeatable(fn, images, severity, seeds)
        if name in NOISE:
            other = fn(tf.constant(images[0]), severity, tf.constant([11, 3], tf.int64))
            assert not np.array_equal(eager[0], other.numpy())


@pytest.mark.parametrize("name", sorted(DIGITAL))
def test_digital_matches_reference(name, oracle_images):
    # Achieved: identical pixels (skimage HSV, the mean, PIL BOX/NEAREST and libjpeg's
    # ISLOW codec are all reproduced exactly). Allowed: 1 level on <= 0.1% of the elements,
    # for float64 summation order in the mean and libjpeg-turbo builds (PIL's vs TF's).
    # A wrong rounding or TF's default fast IDCT gives 3 levels on ~60% and fails.
    for image in oracle_images:
        for severity in SEVERITIES:
            ours = _run(DIGITAL[name], image, severity, [0, 0]).astype(np.int64)
            diff = np.abs(ours - reference(name, image, severity))
            assert diff.max() <= 1, (image.shape, severity, diff.max())
            assert np.mean(diff > 0) <= 1e-3, (image.shape, severity, np.mean(diff > 0))


def _stats(out, clean):
    return np.array([out.mean(), out.std(), psnr(out, clean), np.mean(out != clean)])


@pytest.mark.parametrize("name", sorted(NOISE))
def test_noise_matches_reference_statistics(name, images):
    # Six draws each side per photo and severity; mean pixel, pixel std, PSNR to the
    # clean photo and fraction of changed elements must agree within 4 standard errors
    # of the difference (floors: 0.5 level, 0.15 dB, 0.003). A draw's PSNR varies by
    # 0.06-0.3 dB; the neighbouring severity's parameter is >= 1.5 dB away and fails.
    floors = np.array([0.5, 0.5, 0.15, 0.003])
    draws = 6
    for index, image in enumerate(images):
        for severity in SEVERITIES:
            ref = np.array([_stats(reference(name, image, severity, s), image)
                            for s in range(draws)])
            ours = np.array([_stats(_run(NOISE[name], image, severity, [index, s]), image)
                             for s in range(draws)])
            se = np.sqrt((ref.var(0, ddof=1) + ours.var(0, ddof=1)) / draws)
            gap = np.abs(ours.mean(0) - ref.mean(0))
            assert np.all(gap <= np.maximum(4 * se, floors)), (severity, gap, se)


def test_impulse_noise_hits_channels_independently():
    # skimage's 's&p' draws a Bernoulli(amount) per array element (each channel of each
    # pixel on its own) and salt vs pepper 50/50; on mid-grey every hit is visible. Both
    # ours and the reference must follow that law within 4 binomial standard errors.
    size = 128
    grey = np.full((size, size, 3), 128, np.uint8)
    n = grey.size
    for severity, p in zip(SEVERITIES, IMPULSE_AMOUNT):
        channels_hit = np.array([math.comb(3, k) * p ** k * (1 - p) ** (3 - k)
                                 for k in range(4)])
        for out in (_run(noise.impulse_noise, grey, severity, [5, severity]),
                    reference("impulse_noise", grey, severity)):
            hit = out != 128
            assert abs(hit.mean() - p) <= 4 * math.sqrt(p * (1 - p) / n)
            assert set(np.unique(out[hit])) <= {0, 255}
            assert abs(np.mean(out[hit] == 255) - 0.5) <= 4 * math.sqrt(0.25 / hit.sum())
            freq = np.bincount(hit.sum(-1).ravel(), minlength=4) / size ** 2
            tol = 4 * np.sqrt(channels_hit * (1 - channels_hit) / size ** 2) + 1e-3
            assert np.all(np.abs(freq - channels_hit) <= tol), (severity, freq, channels_hit)


def test_pil_tables_match_pillow():
    from PIL import Image
    rng = np.random.default_rng(0)
    for size_in, size_out in ((64, 38), (224, 134), (224, 89), (97, 24), (81, 48), (5, 3)):
        row = rng.integers(0, 256, (1, size_in)).astype(np.uint8)
        box = np.asarray(Image.fromarray(row).resize((size_out, 1), Image.BOX))[0]
        m = digital.pil_box_matrix(size_in, size_out)
        np.testing.assert_array_equal(box, (m @ row[0].astype(np.int64) + (1 << 21)) >> 22)
        ramp = np.arange(size_out, dtype=np.uint8)[None]
        up = np.asarray(Image.fromarray(ramp).resize((size_in, 1), Image.NEAREST))[0]
        np.testing.assert_array_equal(up, digital.pil_nearest_indices(size_out, size_in))


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("severity", [0, 6])
def test_bad_severity(name, severity, images):
    with pytest.raises(ValueError):
        ALL[name](tf.constant(images[0]), severity, tf.constant([0, 0]))


@pytest.mark.parametrize("lam_scale", [60.0, 25.0, 12.0, 5.0, 3.0])
def test_poisson_quantile_is_the_exact_inverse_cdf(lam_scale):
    # shot_noise's sampler against SciPy's Poisson CDF, including the crowded tail bins
    # (uniforms within 1e-3 of 0 and 1) that take the slow path: exactly the inverse of the
    # CDF rounded to float32 (the uniforms' precision), and off the float64 CDF's by one
    # count only where a uniform falls within float32 rounding of a CDF step.
    from scipy.stats import poisson
    rng = np.random.default_rng(int(lam_scale))
    levels = np.repeat(np.arange(256), 64)
    u = rng.random(levels.size)
    u[::4] = rng.random(levels.size // 4) * 1e-3
    u[1::4] = 1.0 - rng.random(levels.size // 4) * 1e-3
    u = u.astype(np.float32)
    c = int(lam_scale)
    cdf = poisson.cdf(np.arange(c)[np.newaxis, :], (levels / 255.0 * lam_scale)[:, np.newaxis])
    expected = (cdf.astype(np.float32) < u[:, np.newaxis]).sum(axis=1)
    got = noise.poisson_quantile(tf.constant(levels, tf.int32), tf.constant(u), lam_scale)
    np.testing.assert_array_equal(got.numpy(), expected)
    exact = (cdf < u.astype(np.float64)[:, np.newaxis]).sum(axis=1)
    assert np.abs(got.numpy() - exact).max() <= 1 and np.mean(got.numpy() != exact) < 1e-3


def test_box_muller_normal_is_standard_normal_and_seeded():
    from preprocessing.corruptions.common import stateless_normal
    z = stateless_normal([301, 333], [4, 2]).numpy()  # odd count: one normal of a pair dropped
    assert z.shape == (301, 333) and z.dtype == np.float32
    n = z.size
    assert abs(z.mean()) < 4 / math.sqrt(n) and abs(z.std() - 1) < 4 / math.sqrt(2 * n)
    # Tail masses and the fourth moment of N(0, 1): P(|z| > 2) = .0455, E z^4 = 3.
    assert abs(np.mean(np.abs(z) > 2) - 0.0455) < 4 * math.sqrt(0.0455 * 0.9545 / n)
    assert abs(np.mean(z ** 4) - 3.0) < 0.1
    np.testing.assert_array_equal(z, stateless_normal([301, 333], [4, 2]).numpy())
    shifted = stateless_normal([301, 333], [4, 2], mean=0.5, stddev=0.3).numpy()
    np.testing.assert_allclose(shifted, z * 0.3 + 0.5, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(z, stateless_normal([301, 333], [4, 3]).numpy())
