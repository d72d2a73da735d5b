"""Throughput of the whole-photo path on this machine: JPEG bytes -> Reading.

    python -m model.bench_photos --size 640x480 --photos 512
    python -m model.bench_photos --size 4000x3000 --photos 96

Works like one worker process: each batch of --batch photos is decoded on a thread pool
(OpenCV releases the GIL; big JPEGs at reduced resolution via DEFAULT_DECODE_MAX_SIDE), then
`read_images` runs once for the batch (triage, one locator call, rectify, one reader call).
Rendering the scenes and encoding them to JPEG happen before the clock starts; one warm-up
batch runs before it too, so graph tracing is not counted. Prints photos/s (wall clock, which
other processes on a shared machine slow down: the 1-minute load average is printed beside it),
the time split, and the process's CPU time per photo with the capacity of two otherwise idle
cores it implies (2 / CPU seconds per photo).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from model.image_io import decode_image
from model.pipeline import DEFAULT_DECODE_MAX_SIDE, read_images
from model.synth.scenes import render_scene

MAX_BYTES, MAX_PIXELS = 40 * 1024 * 1024, 50_000_000
DISTINCT_PHOTOS = 24  # rendered once, cycled: rendering 4000x3000 scenes is the slow part


def jpeg_photos(width: int, height: int, count: int, seed: int = 11) -> list[bytes]:
    """`count` JPEG-encoded scenes (quality 90), DISTINCT_PHOTOS different ones cycled."""
    distinct = []
    for index in range(min(count, DISTINCT_PHOTOS)):
        scene = render_scene(np.random.default_rng([seed, index]), width, height)
        ok, encoded = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        distinct.append(encoded.tobytes())
    return [distinct[i % len(distinct)] for i in range(count)]


def _decode(data: bytes) -> np.ndarray:
    return decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, target_max_side=DEFAULT_DECODE_MAX_SIDE)


def run_batches(models, photos: list[bytes], batch: int, threads: int) -> dict:
    """Process all photos batch by batch; return wall seconds and the decode/read split."""
    decode_s = read_s = 0.0
    statuses: dict[str, int] = {}
    with ThreadPoolExecutor(threads) as pool:
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(photos), batch):
            t0 = time.perf_counter()
            images = list(pool.map(_decode, photos[start:start + batch]))
            t1 = time.perf_counter()
            for reading in read_images(images, models):
                statuses[reading.status.value] = statuses.get(reading.status.value, 0) + 1
            decode_s, read_s = decode_s + t1 - t0, read_s + time.perf_counter() - t1
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"photos": len(photos), "wall_s": round(wall, 3), "photos_per_s": round(len(photos) / wall, 1),
            "cpu_ms_per_photo": round(cpu / len(photos) * 1000, 2),
            "two_core_capacity_per_s": round(2 * len(photos) / cpu, 1),
            "decode_s": round(decode_s, 3), "read_images_s": round(read_s, 3), "statuses": statuses}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--photos", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64, help="photos per read_images call (a worker batch)")
    parser.add_argument("--threads", type=int, default=2, help="decode threads")
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).parent / "shipped")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    photos = jpeg_photos(width, height, args.photos)
    from model.runtime import load_models  # TensorFlow only once the photos are ready

    models = load_models(args.model_dir)
    run_batches(models, photos[:args.batch], args.batch, args.threads)  # warm-up: tracing, caches
    result = run_batches(models, photos, args.batch, args.threads)
    result.update(size=args.size, batch=args.batch, threads=args.threads, load_average_1m=os.getloadavg()[0],
                  mean_jpeg_kb=round(sum(map(len, photos)) / len(photos) / 1024, 1), model_version=models.version)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
