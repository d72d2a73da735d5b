"""Meter profiles: spec parsing, fixed windows, the formatted value (unit tier)."""

from __future__ import annotations

import numpy as np
import pytest

from model.profiles import (
    MeterProfile,
    ProfileError,
    format_value,
    parse_profile,
    profile_for_digits,
)


def test_json_and_pairs_specs_agree():
    from_json = parse_profile('{"name": "gas-a", "digits": 8, "decimals": 3, "kind": "drums"}')
    from_pairs = parse_profile("name=gas-a,digits=8,decimals=3,kind=DRUMS")
    assert from_json == from_pairs == MeterProfile("gas-a", 8, 3, "drums")


def test_spec_round_trips():
    profile = MeterProfile("cam-7", digits=5, decimals=0, kind="lcd", window=(0.1, 0.2, 0.5, 0.3))
    assert parse_profile(profile.to_spec()) == profile


def test_digits_only_profile():
    assert profile_for_digits(7) == MeterProfile("digits-7", digits=7)
    assert parse_profile("digits=6").digits == 6


@pytest.mark.parametrize("spec", ["", "digits", "digits=0", "digits=8,decimals=8", "kind=nixie",
                                  "colour=red", "window=0.5:0.5:0.4:0.6", "window=1:2:3",
                                  "digits=eight", "[1, 2]", "{bad json"])
def test_bad_specs_say_why(spec):
    with pytest.raises(ProfileError):
        parse_profile(spec)


def test_rectangular_window_in_pixels():
    profile = parse_profile("digits=5,window=0.25:0.5:0.75:0.6")
    quad = profile.window_quad(400, 200)
    assert np.allclose(quad, [[100, 100], [300, 100], [300, 120], [100, 120]])


def test_rotated_window_keeps_reading_order():
    corners = (0.2, 0.5, 0.6, 0.3, 0.65, 0.4, 0.25, 0.6)  # a camera mounted at an angle
    quad = MeterProfile("cam", window=corners).window_quad(100, 100)
    assert np.allclose(quad, [[20, 50], [60, 30], [65, 40], [25, 60]])


def test_format_value():
    assert format_value("0042917", MeterProfile("w", digits=7, decimals=2)) == "00429.17"
    assert format_value("0042917", MeterProfile("w", digits=7)) == "0042917"
    assert format_value("0042917", None) is None
    assert format_value(None, MeterProfile("w", decimals=2)) is None
    assert format_value("12", MeterProfile("w", decimals=2)) is None  # too short to place a point
