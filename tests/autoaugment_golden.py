"""Golden digests of AutoAugment's ``original`` magnitudes (issue 20), and the script that
made them.

    python tests/autoaugment_golden.py          # rewrites tests/fixtures/autoaugment_original.json

The committed file was written from the code *before* ``--autoaugment_magnitudes`` existed
(commit 4b3a9df, when 250 / 100 px were the only magnitudes), so tests/test_autoaugment_
magnitudes.py checks that ``original`` keeps those pixels bit for bit. Do not regenerate it
unless the original's pixels are meant to change.

Cases, for every policy and side 32, 64, 224 (random-content uint8 images from
``numpy.random.default_rng([side, 20])``): every sub-policy with both ops applied (signs
+1/-1 alternating, Cutout centres at fixed fractions), and ``augment`` with seeds 0..23.
Each case is the sha256 of the output's bytes.
"""

import hashlib
import inspect
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
PATH = os.path.join(HERE, "fixtures", "autoaugment_original.json")
SIDES = (32, 64, 224)
SEEDS = 24


def image(side):
    return np.random.default_rng([side, 20]).integers(0, 256, (side, side, 3), np.uint8)


def sub_policy_params(index, k):
    import tensorflow as tf
    sign = 1.0 if index % 2 == 0 else -1.0
    return {"sub_policy": tf.constant(index, tf.int32), "applied": tf.constant([True, True]),
            "signs": tf.constant([sign, -sign]),
            "centers": tf.constant([[0.25, 0.75], [0.6, 0.1]]) + 0.01 * k}


def digests(magnitudes="original"):
    """{policy: {side: {"sub_policies": [...], "seeds": [...]}}} of sha256 hex digests."""
    import tensorflow as tf

    from preprocessing import autoaugment as AA
    kw = ({"magnitudes": magnitudes}
          if "magnitudes" in inspect.signature(AA.apply).parameters else {})
    out = {}
    for policy in sorted(AA.POLICIES):
        out[policy] = {}
        for side in SIDES:
            img = tf.constant(image(side))
            n = len(AA.POLICIES[policy])
            subs = [AA.apply(img, policy, sub_policy_params(i, side % 7), **kw).numpy()
                    for i in range(n)]
            seeds = [AA.augment(img, policy, s, **kw).numpy() for s in range(SEEDS)]
            out[policy][str(side)] = {
                "sub_policies": [hashlib.sha256(a.tobytes()).hexdigest() for a in subs],
                "seeds": [hashlib.sha256(a.tobytes()).hexdigest() for a in seeds]}
    return out


if __name__ == "__main__":
    with open(PATH, "w") as f:
        json.dump(digests(), f, indent=0, sort_keys=True)
        f.write("\n")
    print(PATH)
