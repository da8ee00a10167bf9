"""Parameter and multiply-accumulate counts of a built Keras functional model.

MACs per image count the arithmetic of convolutions (grouped and depthwise included),
dense layers and fixed blur filters; element-wise ops, BN, pooling and activations are not
counted (the usual convention: "GFLOPs" in papers = these MACs). Shapes come from each
layer's output, so build the model with a fixed input size.
"""

import keras


def count_params(model: keras.Model) -> int:
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))


def multiply_accumulates(model: keras.Model) -> int:
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, cin, mult = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * kh * kw * cin * mult
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * kh * kw * cin * cout  # kernel already holds cin / groups
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
        elif type(layer).__name__ == "BlurPool2D":
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.filter_size ** 2
    return int(total)
