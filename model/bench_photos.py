"""Throughput of the whole-photo path on this machine: JPEG bytes -> Reading.

    python -m model.bench_photos --size 640x480 --photos 512
    python -m model.bench_photos --size 4000x3000 --photos 96

Works like a CPU worker: --processes pool processes (default: one per core, as `meter-ocr
worker` starts), each with its share of the cores as TensorFlow threads, deal the batches out
round-robin. In each, a batch of --batch photos is decoded on a thread pool (OpenCV releases the
GIL; big JPEGs at reduced resolution via DEFAULT_DECODE_MAX_SIDE), then `read_images` runs once
for the batch (triage, locator, rectify, the reader calls). Rendering the scenes and encoding
them to JPEG happen before the clock starts; one warm-up batch per process runs before it too,
so graph tracing is not counted. Prints photos/s (wall clock from the first process's start to
the last one's end; other processes on a shared machine slow it down: the 1-minute load average
is printed beside it) and the CPU time per photo, summed over the processes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from model.image_io import decode_image
from model.pipeline import DEFAULT_DECODE_GREY, DEFAULT_DECODE_MAX_SIDE, read_images
from model.synth.scenes import render_scene

MAX_BYTES, MAX_PIXELS = 40 * 1024 * 1024, 50_000_000
DISTINCT_PHOTOS = 24  # rendered once, cycled: rendering 4000x3000 scenes is the slow part


def jpeg_photos(width: int, height: int, count: int, seed: int = 11) -> list[bytes]:
    """`count` JPEG-encoded scenes (quality 90), DISTINCT_PHOTOS different ones cycled."""
    distinct = []
    for index in range(min(count, DISTINCT_PHOTOS)):
        scene = render_scene(np.random.default_rng([seed, index]), width, height)
        _, encoded = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        distinct.append(encoded.tobytes())
    return [distinct[i % len(distinct)] for i in range(count)]


def _decode(data: bytes) -> np.ndarray:
    return decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, target_max_side=DEFAULT_DECODE_MAX_SIDE,
                        grey=DEFAULT_DECODE_GREY)


def run_batches(models, batches: list[list[bytes]], threads: int) -> dict:
    """Process the batches in turn; wall-clock start and end, CPU seconds, statuses."""
    statuses: dict[str, int] = {}
    with ThreadPoolExecutor(threads) as pool:
        started, cpu_started = time.time(), time.process_time()
        for photos in batches:
            for reading in read_images(list(pool.map(_decode, photos)), models):
                statuses[reading.status.value] = statuses.get(reading.status.value, 0) + 1
        return {"started": started, "ended": time.time(), "cpu_s": time.process_time() - cpu_started,
                "statuses": statuses}


def _process_share(batches, model_dir: Path, tf_threads: int | None, decode_threads: int, barrier, results) -> None:
    """One pool process: load the models (TensorFlow after the spawn), warm up, wait for the
    others, run its batches."""
    from model.runtime import load_models

    models = load_models(model_dir, threads=tf_threads)
    run_batches(models, batches[:1], decode_threads)  # warm-up: tracing, caches
    barrier.wait()
    results.put({**run_batches(models, batches, decode_threads), "model_version": models.version})


def run_processes(photos: list[bytes], model_dir: Path, *, batch: int, processes: int, decode_threads: int) -> dict:
    """All photos through `processes` spawned processes sharing the cores like a worker's pool."""
    cores = len(os.sched_getaffinity(0))
    tf_threads = max(1, cores // processes) if processes > 1 else None  # as workers.launch does
    batches = [photos[i:i + batch] for i in range(0, len(photos), batch)]
    context = multiprocessing.get_context("spawn")  # each process starts TensorFlow itself
    barrier, results = context.Barrier(processes), context.Queue()
    procs = [context.Process(target=_process_share,
                             args=(batches[k::processes], model_dir, tf_threads, decode_threads, barrier, results))
             for k in range(processes)]
    for proc in procs:
        proc.start()
    shares = [results.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(s["ended"] for s in shares) - min(s["started"] for s in shares)
    cpu = sum(s["cpu_s"] for s in shares)
    statuses: dict[str, int] = {}
    for share in shares:
        for status, n in share["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {"photos": len(photos), "processes": processes, "tf_threads_each": tf_threads or "default",
            "wall_s": round(wall, 3), "photos_per_s": round(len(photos) / wall, 1),
            "cpu_ms_per_photo": round(cpu / len(photos) * 1000, 2), "statuses": statuses,
            "model_version": shares[0]["model_version"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--photos", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64, help="photos per read_images call (a worker batch)")
    parser.add_argument("--threads", type=int, default=2, help="decode threads per process")
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)),
                        help="pool processes (default: one per core, as a CPU worker runs)")
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).parent / "shipped")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    photos = jpeg_photos(width, height, args.photos)
    result = run_processes(photos, args.model_dir, batch=args.batch, processes=max(1, args.processes),
                           decode_threads=args.threads)
    result.update(size=args.size, batch=args.batch, decode_threads=args.threads, load_average_1m=os.getloadavg()[0],
                  mean_jpeg_kb=round(sum(map(len, photos)) / len(photos) / 1024, 1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
