"""Docker cannot run here, so the deployment files are checked against the code instead:
services, health checks, start-up order, env names (Settings fields and CLI env vars) and
commands (entry points that exist)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with the test extra")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AWS_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def _known_env_names() -> set[str]:
    from producer.cli import main
    from producer.settings import Settings

    names = {f"METER_OCR_{field.upper()}" for field in Settings.model_fields}
    for command in main.commands.values():
        names |= {p.envvar for p in command.params if isinstance(p, click.Option) and p.envvar}
    return names


def test_the_services_are_all_there():
    assert {"postgres", "redis", "minio", "minio-init", "worker", "producer", "flower"} <= set(SERVICES)


def test_redis_is_append_only():
    command = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in command


def test_minio_bucket_is_created_after_minio_is_healthy():
    init = SERVICES["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = " ".join(init["entrypoint"])
    assert "mc mb --ignore-existing" in script and "PHOTO_BUCKET" in script


@pytest.mark.parametrize("name", ["postgres", "redis", "minio", "worker", "worker-cpu", "flower"])
def test_long_running_services_have_health_checks(name):
    assert SERVICES[name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", ["worker", "worker-cpu", "producer"])
def test_workers_and_producer_start_after_healthy_dependencies(name):
    depends = SERVICES[name]["depends_on"]
    for needed in ("postgres", "redis"):
        assert depends[needed]["condition"] == "service_healthy"
    assert depends["minio-init"]["condition"] == "service_completed_successfully"


def test_gpu_worker_reserves_gpus_and_cpu_fallback_exists():
    devices = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert SERVICES["worker"]["build"]["dockerfile"] == "infra/docker/Dockerfile.worker-gpu"
    assert SERVICES["worker-cpu"]["build"]["dockerfile"] == "infra/docker/Dockerfile.worker-cpu"
    assert "deploy" not in SERVICES["worker-cpu"]


def test_env_names_match_the_settings_and_cli():
    known = _known_env_names()
    for name in ("worker", "worker-cpu", "producer"):
        env = SERVICES[name]["environment"]
        for key in env:
            assert key in known or key in AWS_NAMES, f"{name}: {key} is read by nothing"
        for required in ("METER_OCR_DATABASE_URL", "METER_OCR_BROKER_URL", "METER_OCR_S3_ENDPOINT_URL"):
            assert required in env, f"{name} lacks {required}"


def test_service_urls_point_at_the_compose_services():
    env = SERVICES["worker"]["environment"]
    assert "@postgres:5432/" in env["METER_OCR_DATABASE_URL"]
    assert env["METER_OCR_BROKER_URL"].startswith("redis://redis:6379")
    assert env["METER_OCR_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert SERVICES["postgres"]["environment"]["POSTGRES_DB"] in env["METER_OCR_DATABASE_URL"]


def test_commands_are_real_entry_points():
    from producer.cli import main

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["meter-ocr"] == "producer.cli:main"
    for name in ("worker", "worker-cpu"):
        command = SERVICES[name]["command"]
        assert command[0] == "meter-ocr" and command[1] in main.commands
    assert SERVICES["producer"]["entrypoint"] == ["meter-ocr"]
    assert SERVICES["producer"]["command"][0] in main.commands
    worker_health = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert "-A workers.app" in worker_health
    assert "redis://redis:6379" in " ".join(SERVICES["flower"]["command"])


@pytest.mark.parametrize("dockerfile", ["Dockerfile.worker-cpu", "Dockerfile.worker-gpu", "Dockerfile.producer"])
def test_dockerfiles_copy_what_the_code_needs(dockerfile):
    text = (ROOT / "infra" / "docker" / dockerfile).read_text()
    for package in ("model", "producer", "results", "storage", "workers", "infra/migrations"):
        assert re.search(rf"^COPY {package} ", text, re.M), f"{dockerfile} does not copy {package}"
    assert "USER meter" in text
    if "worker" in dockerfile:
        assert 'CMD ["meter-ocr", "worker"]' in text
    else:
        assert 'ENTRYPOINT ["meter-ocr"]' in text and "tensorflow" in text  # excluded on purpose
