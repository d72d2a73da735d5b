"""The Celery configuration says what RELIABILITY.md requires, and importing the app is inert."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from producer.settings import Settings
from workers import launch
from workers.celeryconfig import celery_config
from workers.launch import default_concurrency, gpu_count, note_pool_size, tf_threads_per_process, worker_argv


def test_reliability_settings():
    conf = celery_config(Settings(broker_url="redis://127.0.0.1:1/0"))
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_ignore_result"] is True
    assert conf["broker_transport_options"]["visibility_timeout"] == 3600
    assert conf["task_soft_time_limit"] < conf["task_time_limit"] < 3600
    assert conf["worker_max_tasks_per_child"] == 200
    assert conf["worker_max_memory_per_child"] == 3_000_000
    assert conf["worker_proc_alive_timeout"] >= 60
    assert conf["broker_connection_retry_on_startup"] is True


@pytest.mark.parametrize("limits", [
    {"task_time_limit": 3600, "visibility_timeout": 3600},
    {"task_soft_time_limit": 300, "task_time_limit": 300},
])
def test_unsafe_limits_are_refused(limits):
    with pytest.raises(ValueError):
        celery_config(Settings(**limits))


def test_importing_the_app_reads_no_environment_and_loads_no_model():
    code = (
        "import json, os, sys\n"
        "os.environ.pop('METER_OCR_BROKER_URL', None)\n"
        "import workers.app, workers.tasks\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'cv2'))\n"
        "os.environ['METER_OCR_BROKER_URL'] = 'redis://127.0.0.1:9/3'\n"
        "print(json.dumps({'heavy': heavy, 'broker': workers.app.app.conf.broker_url,\n"
        "                  'tasks': sorted(t for t in workers.app.app.tasks if t.startswith('meter_ocr'))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out.splitlines()[-1])
    assert seen["heavy"] == []
    assert seen["broker"] == "redis://127.0.0.1:9/3"  # read lazily, at first use
    assert seen["tasks"] == ["meter_ocr.read_batch"]


def test_concurrency_follows_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert gpu_count() == 3 and default_concurrency() == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu_count() == 0
    assert default_concurrency() >= 1
    argv = worker_argv(Settings(), concurrency=None, loglevel="INFO", hostname="w1@%h")
    assert "--pool=prefork" in argv and f"--concurrency={default_concurrency()}" in argv
    assert "--queues=meter-ocr" in argv and "--hostname=w1@%h" in argv


def test_tensorflow_threads_share_the_cores_among_the_pool_processes(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    assert tf_threads_per_process(1) is None  # a process alone keeps TensorFlow's default
    assert tf_threads_per_process(2) == max(1, cores // 2)
    assert tf_threads_per_process(4 * cores) == 1
    monkeypatch.setattr(launch, "_pool_processes", None)
    assert tf_threads_per_process() is None  # `meter-ocr run`: no pool
    note_pool_size(2)  # what the Celery parent does before it forks its children
    assert tf_threads_per_process() == max(1, cores // 2)
