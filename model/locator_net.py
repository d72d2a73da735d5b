"""The counter locator network: a small encoder-decoder over the letterboxed grey photo.

Input (N, S, S, 1) float32 in [0, 1]; output (N, S/4, S/4, MAP_CHANNELS) float32 maps as
model/locator_targets.py defines them (score through a sigmoid, the rest linear). Depthwise-
separable convolutions keep it near 40 M multiply-adds per photo at S = 192, so it costs a few
milliseconds of CPU; the stride-16 bottleneck with a dilated layer sees about 150 px of context,
enough to tell a drum window inside a dial from a serial number printed below it.
"""

from __future__ import annotations

import keras
from keras import layers

from model.locator_targets import MAP_CHANNELS

DEFAULT_INPUT_SIZE = 192


def _conv(x, filters: int, folded: bool, *, stride: int = 1, dilation: int = 1, separable: bool = True,
          kernel: int = 3):
    """Convolution, batch normalisation (left out when `folded`: model.fold puts it into the
    convolution's kernel and bias), ReLU6."""
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, kernel, strides=stride, dilation_rate=dilation, padding="same", use_bias=folded)(x)
    if not folded:
        x = layers.BatchNormalization()(x)
    return layers.ReLU(max_value=6.0)(x)


def _merge(deep, skip, filters: int, folded: bool):
    """Upsample the deeper features to the skip's grid and fuse them with a 1x1 projection."""
    up = layers.UpSampling2D(2, interpolation="bilinear")(deep)
    x = layers.Concatenate()([up, skip])
    x = _conv(x, filters, folded, separable=False, kernel=1)
    return _conv(x, filters, folded)


def build_locator(input_size: int = DEFAULT_INPUT_SIZE, width: int = 32, folded: bool = False) -> keras.Model:
    """The locator: (N, S, S, 1) -> (N, S/4, S/4, MAP_CHANNELS). S must be a multiple of 16.
    `folded`: the serving network, without batch normalisations (see model.fold)."""
    if input_size % 16:
        raise ValueError(f"input_size must be a multiple of 16, got {input_size}")
    image = keras.Input((input_size, input_size, 1), name="image")
    x = _conv(image, width // 2, folded, stride=2, separable=False)  # S/2
    s4 = _conv(_conv(x, width, folded, stride=2), width, folded)  # S/4
    s8 = _conv(_conv(s4, width * 2, folded, stride=2), width * 2, folded)  # S/8
    x = _conv(s8, width * 3, folded, stride=2)  # S/16
    x = _conv(_conv(x, width * 3, folded), width * 3, folded, dilation=2)
    x = _merge(x, s8, width * 2, folded)
    x = _merge(x, s4, width, folded)
    raw = layers.Conv2D(MAP_CHANNELS, 1, name="maps_raw")(x)
    score = layers.Activation("sigmoid")(raw[..., :1])
    maps = layers.Concatenate(name="maps")([score, raw[..., 1:]])
    return keras.Model(image, maps, name="counter_locator")
