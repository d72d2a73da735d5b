"""Meter profiles: what a job knows about its meters before reading them.

A profile may say how many digits the counter has (the CTC decoder is then constrained to K),
how many of them are decimals (only for the formatted `value`), whether it is an LCD or drums,
and, for fixed cameras that always see the same meter, where the counter window is, so no
locator runs at all. Without a profile the system reads what it finds.

Spec strings (the CLI's `--profile`, a job's `profile` column):
    '{"name": "gas-a", "digits": 8, "decimals": 3, "kind": "drums"}'     JSON
    'name=gas-a,digits=8,decimals=3,kind=lcd'                            key=value list
    'digits=5,window=0.30:0.40:0.70:0.52'                                fixed window, fractions
A window is 4 numbers (x0:y0:x1:y1, an upright rectangle) or 8 numbers (the 4 corners top-left,
top-right, bottom-right, bottom-left in reading order, for a camera mounted at an angle), all as
fractions of the photo's width and height.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

KINDS = ("drums", "lcd")
MAX_DIGITS = 16


class ProfileError(ValueError):
    """A profile spec that cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class MeterProfile:
    name: str
    digits: int | None = None
    decimals: int = 0
    kind: str | None = None
    window: tuple[float, ...] | None = None  # 4 or 8 fractions, see the module docstring

    def __post_init__(self) -> None:
        _check_profile(self)

    def window_quad(self, width: int, height: int) -> np.ndarray | None:
        """The fixed window as corners in pixels: (4, 2) float32, reading order; None if unset."""
        if self.window is None:
            return None
        w = self.window
        if len(w) == 4:
            corners = [(w[0], w[1]), (w[2], w[1]), (w[2], w[3]), (w[0], w[3])]
        else:
            corners = list(zip(w[0::2], w[1::2]))
        return np.array(corners, dtype=np.float32) * np.array([width, height], dtype=np.float32)

    def to_spec(self) -> str:
        """The JSON spec that `parse_profile` turns back into this profile."""
        row = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(row, separators=(",", ":"))


def _check_profile(profile: MeterProfile) -> None:
    if not profile.name:
        raise ProfileError("a profile needs a name")
    if profile.digits is not None and not 1 <= profile.digits <= MAX_DIGITS:
        raise ProfileError(f"digits must be 1..{MAX_DIGITS}, got {profile.digits}")
    limit = profile.digits if profile.digits is not None else MAX_DIGITS
    if not 0 <= profile.decimals < limit:
        raise ProfileError(f"decimals must be 0..digits-1, got {profile.decimals}")
    if profile.kind is not None and profile.kind not in KINDS:
        raise ProfileError(f"kind must be one of {KINDS}, got {profile.kind!r}")
    if profile.window is not None:
        if len(profile.window) not in (4, 8):
            raise ProfileError("window needs 4 (x0:y0:x1:y1) or 8 (corner) fractions")
        if not all(-0.5 <= v <= 1.5 for v in profile.window):
            raise ProfileError("window values are fractions of the photo size")
        if len(profile.window) == 4 and not (profile.window[0] < profile.window[2]
                                             and profile.window[1] < profile.window[3]):
            raise ProfileError("window x0:y0:x1:y1 needs x0 < x1 and y0 < y1")


def profile_for_digits(digits: int) -> MeterProfile:
    """What `--digits K` means: a profile that only fixes the digit count."""
    return MeterProfile(name=f"digits-{digits}", digits=digits)


def parse_profile(spec: str) -> MeterProfile:
    """A profile from a JSON object or a `key=value,...` spec (see the module docstring)."""
    text = spec.strip()
    if not text:
        raise ProfileError("empty profile spec")
    fields = _parse_json(text) if text.startswith("{") else _parse_pairs(text)
    unknown = set(fields) - {"name", "digits", "decimals", "kind", "window"}
    if unknown:
        raise ProfileError(f"unknown profile keys: {sorted(unknown)}")
    try:
        return MeterProfile(
            name=str(fields.get("name") or "custom"),
            digits=None if fields.get("digits") is None else int(fields["digits"]),
            decimals=int(fields.get("decimals") or 0),
            kind=None if fields.get("kind") is None else str(fields["kind"]).lower(),
            window=_parse_window(fields.get("window")),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"bad profile value: {exc}") from None


def _parse_json(text: str) -> dict:
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile is not valid JSON: {exc.msg}") from None
    if not isinstance(fields, dict):
        raise ProfileError("a JSON profile must be an object")
    return fields


def _parse_pairs(text: str) -> dict:
    fields = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ProfileError(f"expected key=value, got {part!r}")
        fields[key.strip().lower()] = value.strip()
    return fields


def _parse_window(window: object) -> tuple[float, ...] | None:
    if window is None or window == "":
        return None
    values = window.split(":") if isinstance(window, str) else list(window)
    return tuple(float(v) for v in values)


def format_value(reading: str | None, profile: MeterProfile | None) -> str | None:
    """The `value` field: the reading with the profile's decimal point, e.g. '0042917' -> '00429.17'.

    None without a profile or a reading; a reading too short for the decimals is not guessed at.
    """
    if reading is None or profile is None:
        return None
    if profile.decimals == 0:
        return reading
    if len(reading) <= profile.decimals:
        return None
    return f"{reading[:-profile.decimals]}.{reading[-profile.decimals:]}"
