"""Pure-numpy CTC decoding of the reader's per-frame posteriors.

`probs` is the reader's softmax output for one crop: (T, C) float32, C = len(alphabet) + 1, with
the blank at `blank_index` (the same index the training loss used; it is stored in the model's
metadata.json). Both decoders return the best *path* (Viterbi), collapsed: repeats merge unless
a blank separates them, blanks are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_FLOOR = 1e-30  # keeps log() finite for exact zeros


@dataclass(frozen=True)
class Decoded:
    """One decoded sequence: `labels` are alphabet indices (blank excluded); `spans` are
    [start, end) frame ranges of each label's run on the chosen path; `path` is (T,) int."""

    labels: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    path: np.ndarray


def _check(probs: np.ndarray, blank_index: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"expected probs of shape (T, C), got {probs.shape}")
    if not 0 <= blank_index < probs.shape[1]:
        raise ValueError(f"blank_index {blank_index} outside 0..{probs.shape[1] - 1}")
    return probs


def collapse_path(path: np.ndarray, blank_index: int) -> Decoded:
    """(T,) int frame labels -> Decoded (merge repeats, drop blanks)."""
    labels, spans = [], []
    previous = blank_index
    for t, symbol in enumerate(int(s) for s in path):
        if symbol != blank_index and symbol == previous:
            spans[-1] = (spans[-1][0], t + 1)
        elif symbol != blank_index:
            labels.append(symbol)
            spans.append((t, t + 1))
        previous = symbol
    return Decoded(tuple(labels), tuple(spans), np.asarray(path, dtype=np.int64))


def decode_greedy(probs: np.ndarray, blank_index: int) -> Decoded:
    """(T,C) posteriors -> the collapsed arg-max path."""
    probs = _check(probs, blank_index)
    return collapse_path(np.argmax(probs, axis=1), blank_index)


def decode_constrained(probs: np.ndarray, blank_index: int, length: int) -> Decoded | None:
    """(T,C) posteriors -> the most probable path whose collapsed label has exactly `length`
    symbols, or None when no such path exists (T too short for it)."""
    probs = _check(probs, blank_index)
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    logp = np.log(np.maximum(probs, LOG_FLOOR))
    n_frames, n_classes = logp.shape
    # score[n, s]: best log prob of a prefix path that emitted n labels and whose last frame is s
    score = np.full((length + 1, n_classes), -np.inf)
    score[0, blank_index] = logp[0, blank_index]
    if length >= 1:
        score[1, :] = np.where(np.arange(n_classes) == blank_index, -np.inf, logp[0])
    back = np.zeros((n_frames, length + 1, n_classes, 2), dtype=np.int64)
    for t in range(1, n_frames):
        score, back[t] = _viterbi_step(score, logp[t], blank_index)
    if not np.isfinite(score[length]).any():
        return None
    return collapse_path(_backtrack(back, score, length), blank_index)


def _viterbi_step(score: np.ndarray, logp_t: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """One frame of the length-constrained Viterbi, vectorised over lengths and symbols.
    Returns new scores and back-pointers (prev_n, prev_s) per state."""
    n_len, n_classes = score.shape
    rows = np.arange(n_len)
    # a new label s comes from the best previous state whose last frame is not s: the best one,
    # or the second best when the best is s itself
    ranked = np.argsort(score, axis=1, kind="stable")
    first, second = ranked[:, -1], ranked[:, -2] if n_classes > 1 else ranked[:, -1]
    symbols = np.arange(n_classes)
    from_s = np.where(first[:, None] == symbols[None, :], second[:, None], first[:, None])  # (n_len, C)
    from_score = score[rows[:, None], from_s]
    advance = np.vstack([np.full((1, n_classes), -np.inf), from_score[:-1]])  # n-1 -> n
    stay = score  # same symbol again: the run continues, no new label
    take_stay = stay >= advance
    new = np.where(take_stay, stay, advance) + logp_t[None, :]
    back = np.empty((n_len, n_classes, 2), dtype=np.int64)
    back[:, :, 0] = np.where(take_stay, rows[:, None], rows[:, None] - 1)
    back[:, :, 1] = np.where(take_stay, symbols[None, :], np.vstack([np.zeros((1, n_classes), np.int64), from_s[:-1]]))
    # a blank frame keeps n and may follow anything
    best_prev = np.argmax(score, axis=1)
    new[:, blank] = score[rows, best_prev] + logp_t[blank]
    back[:, blank, 0], back[:, blank, 1] = rows, best_prev
    return new, back


def _backtrack(back: np.ndarray, score: np.ndarray, length: int) -> np.ndarray:
    n_frames = back.shape[0]
    path = np.zeros(n_frames, dtype=np.int64)
    n, s = length, int(np.argmax(score[length]))
    for t in range(n_frames - 1, -1, -1):
        path[t] = s
        if t > 0:
            n, s = int(back[t, n, s, 0]), int(back[t, n, s, 1])
    return path


def path_log_prob(probs: np.ndarray, path: np.ndarray) -> float:
    """Log probability of one frame path: sum over t of log probs[t, path[t]]."""
    probs = np.asarray(probs, dtype=np.float64)
    picked = probs[np.arange(len(path)), np.asarray(path)]
    return float(np.sum(np.log(np.maximum(picked, LOG_FLOOR))))


def labels_to_text(labels: tuple[int, ...], alphabet: str, blank_index: int) -> str:
    """Alphabet indices -> text. Class ids skip the blank: class c maps to alphabet[c'] where
    c' is c with the blank removed from the numbering."""
    return "".join(alphabet[c if c < blank_index else c - 1] for c in labels)


def text_to_labels(text: str, alphabet: str, blank_index: int) -> tuple[int, ...]:
    """The inverse of labels_to_text."""
    return tuple(i if i < blank_index else i + 1 for i in (alphabet.index(ch) for ch in text))
