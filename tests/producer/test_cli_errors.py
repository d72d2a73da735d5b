"""Unreachable services and bad input: one `error:` line naming what failed, exit 1 or 2,
no traceback, no password. Real subprocesses against closed loopback ports: no services needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.services import free_port

CLI = [sys.executable, "-m", "producer.cli"]


@pytest.fixture
def model_dir(tmp_path):
    """Model metadata only: enough for commands that never load the network."""
    (tmp_path / "model" / "reader").mkdir(parents=True)
    (tmp_path / "model" / "reader" / "metadata.json").write_text(json.dumps({"version": "meta-only"}))
    return tmp_path / "model"


def _meter_ocr(*args, cwd, **env):
    full_env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                "AWS_DEFAULT_REGION": "us-east-1", **env}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120,
                          check=False)


def _one_error_line(result, *, code: int, mentions: str, secret: str | None = None):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and mentions in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    if secret:
        assert secret not in result.stderr + result.stdout


def test_unreachable_broker(tmp_path, model_dir):
    result = _meter_ocr("enqueue", str(tmp_path), "--broker-url", f"redis://:hunter22@127.0.0.1:{free_port()}/0",
                        "--model-dir", str(model_dir), cwd=tmp_path)
    _one_error_line(result, code=1, mentions="cannot reach the broker", secret="hunter22")


def test_unreachable_postgres_never_shows_the_password(tmp_path):
    url = f"postgresql://meter:s3cr3t-pw@127.0.0.1:{free_port()}/results"
    result = _meter_ocr("status", cwd=tmp_path, METER_OCR_DATABASE_URL=url)
    _one_error_line(result, code=1, mentions="cannot reach", secret="s3cr3t-pw")
    assert "127.0.0.1" in result.stderr


def test_unreachable_s3_endpoint(tmp_path, model_dir):
    result = _meter_ocr("run", "s3://meters/site-1/", "--s3-endpoint-url", f"http://127.0.0.1:{free_port()}",
                        "--model-dir", str(model_dir), "--database-url", f"sqlite:///{tmp_path}/r.db", cwd=tmp_path)
    _one_error_line(result, code=1, mentions="unreachable")
    assert "s3://meters/site-1/" in result.stderr


@pytest.mark.parametrize("source, mentions", [
    ("s3://", "bad S3 URI"),
    ("ftp://host/photos", "unsupported URI scheme"),
    ("/no/such/folder", "no such file or folder"),
    ("", "empty source"),
])
def test_bad_sources(tmp_path, model_dir, source, mentions):
    result = _meter_ocr("run", source, "--model-dir", str(model_dir), "--database-url", f"sqlite:///{tmp_path}/r.db",
                        cwd=tmp_path)
    _one_error_line(result, code=1, mentions=mentions)


@pytest.mark.parametrize("csv_text, mentions", [
    ("a,b\n1,2\n", "no column label or path (expected a header path,label; found a,b)"),
    ("path,label\n", "no rows"),
    ("path,label\na.jpg,123\n456\n", "line 3 has too few columns"),
    ("label,path\n123\n", "line 2 has too few columns"),
    ("path,label\n,123\n", "line 2 has no path"),
])
def test_a_labels_csv_that_cannot_be_scored_is_a_usage_error(tmp_path, model_dir, csv_text, mentions):
    (tmp_path / "labels.csv").write_text(csv_text)
    result = _meter_ocr("eval", str(tmp_path / "labels.csv"), "--model-dir", str(model_dir), cwd=tmp_path)
    _one_error_line(result, code=2, mentions=mentions)


def test_reading_a_folder_without_photos_says_so(tmp_path, model_dir):
    (tmp_path / "empty").mkdir()
    result = _meter_ocr("read", str(tmp_path / "empty"), "--model-dir", str(model_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"no photos found in {tmp_path / 'empty'}"


def test_bad_profile_is_a_usage_error(tmp_path, model_dir):
    result = _meter_ocr("run", str(tmp_path), "--profile", "digits=99", "--model-dir", str(model_dir), cwd=tmp_path)
    _one_error_line(result, code=2, mentions="digits")


def test_status_without_a_database_file(tmp_path):
    result = _meter_ocr("status", cwd=tmp_path)
    _one_error_line(result, code=1, mentions="no results database")
    assert not (tmp_path / "meter-ocr.db").exists()


def test_bad_setting_in_the_environment(tmp_path):
    result = _meter_ocr("status", cwd=tmp_path, METER_OCR_BATCH_SIZE="lots")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "batch_size" in result.stderr
