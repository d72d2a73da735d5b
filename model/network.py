"""The reader network: a small residual CNN over the counter crop, a BiLSTM over its columns,
and a per-column softmax over the digits plus the CTC blank.

Input (N, H, W, 1) float32 in [0,1]; output (N, W/4, C) float32 softmax, C = len(alphabet) + 1.
The CNN halves height and width twice, then only the height, so each of the W/4 time steps
sees a 4-pixel column stride; with W = 128 that is 32 frames, enough for 10 digits and the
blanks that separate repeated digits.
"""

from __future__ import annotations

import keras
from keras import layers

ALPHABET = "0123456789"
BLANK_INDEX = len(ALPHABET)  # the last class; tf.nn.ctc_loss is called with this same index
DEFAULT_WIDTHS = (24, 48, 80)
DEFAULT_RNN_UNITS = 64


def _conv_bn(x, filters: int, kernel: int, folded: bool):
    """A convolution and its batch normalisation, or (folded) one convolution with a bias that
    model.fold fills with both."""
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=folded)(x)
    return x if folded else layers.BatchNormalization()(x)


def _conv_bn_relu(x, filters: int, folded: bool):
    return layers.ReLU()(_conv_bn(x, filters, 3, folded))


def _residual_block(x, filters: int, folded: bool):
    """Two 3x3 convs with an identity (or 1x1-projected) shortcut."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, folded)
    y = _conv_bn_relu(x, filters, folded)
    y = _conv_bn(y, filters, 3, folded)
    return layers.ReLU()(layers.Add()([shortcut, y]))


def build_reader(
    height: int = 32,
    width: int = 128,
    n_classes: int = len(ALPHABET) + 1,
    widths: tuple[int, int, int] = DEFAULT_WIDTHS,
    rnn_units: int = DEFAULT_RNN_UNITS,
    unroll: bool = False,
    folded: bool = False,
) -> keras.Model:
    """Build the CRNN. (N,height,width,1) float32 -> (N,width//4,n_classes) float32 softmax.
    `unroll` unrolls the LSTM over its fixed W/4 steps and `folded` leaves out the batch
    normalisations (model.fold puts them into the convolutions): the serving network, the same
    weights, faster on CPU."""
    if height % 8 or width % 4:
        raise ValueError(f"height must be a multiple of 8 and width of 4, got {height}x{width}")
    image = keras.Input((height, width, 1), name="image")
    x = _conv_bn_relu(image, widths[0] // 2, folded)
    x = layers.MaxPooling2D((2, 2))(x)
    x = _residual_block(x, widths[0], folded)
    x = layers.MaxPooling2D((2, 2))(x)
    x = _residual_block(x, widths[1], folded)
    x = layers.MaxPooling2D((2, 1))(x)
    x = _residual_block(x, widths[2], folded)
    # (N, H/8, W/4, F) -> (N, W/4, H/8 * F): one feature vector per column
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((width // 4, (height // 8) * widths[2]))(x)
    x = layers.Dense(rnn_units * 2, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Bidirectional(layers.LSTM(rnn_units, return_sequences=True, unroll=unroll))(x)
    probs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(image, probs, name="reader")
