"""How the scene report sorts wrong readings (model.evaluate_scenes.error_kind, wrong_summary)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.evaluate_scenes import error_kind, wrong_summary


@pytest.mark.parametrize(("label", "reading", "kind"), [
    ("0012345", "0012346", "last digit one off"),   # a last drum caught turning, read as the next digit
    ("0012340", "0012349", "last digit one off"),   # ... or as the one before, across 0
    ("0012999", "0013000", "last digit one off"),   # the carry turning with it
    ("0012999", "0012990", "last digit one off"),   # the last drum read past 0 without its carry
    ("0012345", "0012347", "digits misread"),       # two off is not a drum caught turning
    ("0012345", "0013345", "digits misread"),
    ("0012345", "012345", "digits lost"),
    ("0012345", "00123456", "digits gained"),
    ("0012345", None, "nothing read"),
    ("0012345", "", "nothing read"),
])
def test_error_kind(label, reading, kind):
    assert error_kind(label, reading) == kind


def test_wrong_summary_counts_each_kind_and_the_true_window_reads():
    wrong = [
        {"label": "123", "error": "digits lost", "true_window_reads": "123"},
        {"label": "456", "error": "last digit one off", "true_window_reads": "457"},
        {"label": "789", "error": "last digit one off", "true_window_reads": "789"},
        {"label": "000", "error": "last digit one off", "true_window_reads": None},
    ]
    summary = wrong_summary(wrong)
    assert list(summary) == ["last digit one off", "digits lost"]  # most photos first
    assert summary["last digit one off"] == {"photos": 3, "true_window_right": 1}
    assert summary["digits lost"] == {"photos": 1, "true_window_right": 1}


@pytest.mark.model
def test_several_seeds_are_reported_together(capsys):
    import json

    from model.evaluate_scenes import main

    shipped = Path(__file__).resolve().parents[2] / "model" / "shipped"
    if not (shipped / "locator" / "metadata.json").is_file():
        pytest.skip("no shipped reader+locator in model/shipped")
    main(["--count", "3", "--negatives", "2", "--seed", "5,6", "--sizes", "320x240"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["seeds"] == [5, 6]
    assert summary["all_meters"]["photos"] == 6 and summary["all_negatives"]["photos"] == 4


def test_a_seed_that_is_not_a_number_is_refused(capsys):
    from model.evaluate_scenes import main

    with pytest.raises(SystemExit):
        main(["--seed", "7,x"])
    assert "--seed: whole numbers separated by commas" in capsys.readouterr().err
