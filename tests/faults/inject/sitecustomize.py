"""Test-only fault injection for worker processes started by tests/faults (never shipped).

A worker started with this folder first on PYTHONPATH and METER_OCR_TEST_FAULTS=1 wraps
`model.image_io.decode_image` when that module is first imported: a photo whose bytes end with
a marker misbehaves inside the real decoder call of a real pool child.

    FAULT:RAISE   the decoder raises an unexpected exception (not ImageRejected)
    FAULT:CRASH   the process dies with SIGSEGV, as a decoder bug in C would kill it
    FAULT:SLOW    the decoder takes 4 s (a batch that is still running when a test freezes it)
    FAULT:HANG    the decoder sleeps (interruptible: the soft time limit can stop it)
    FAULT:STUCK   the decoder sleeps with the soft-limit signal blocked, like a call stuck in C
                  that never returns to Python: only the hard time limit ends it

Nothing else changes: the marker rides at the end of an otherwise valid JPEG.

METER_OCR_TEST_LISTING_DELAY=SECONDS (any process, e.g. the producer): `storage.listing.list_folder`
waits that long before yielding each photo, so a test can kill a producer in mid-listing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import signal
import sys
import time

DECODER_MODULE = "model.image_io"
LISTING_MODULE = "storage.listing"
MARKERS = (b"FAULT:RAISE", b"FAULT:CRASH", b"FAULT:SLOW", b"FAULT:HANG", b"FAULT:STUCK")


def _misbehave(data: bytes) -> None:
    tail = bytes(data[-32:]) if data else b""
    if b"FAULT:RAISE" in tail:
        raise RuntimeError("injected decoder bug")
    if b"FAULT:CRASH" in tail:
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)
    if b"FAULT:SLOW" in tail:
        time.sleep(4)
    if b"FAULT:HANG" in tail:
        time.sleep(600)
    if b"FAULT:STUCK" in tail:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
        time.sleep(600)


def _wrap_decoder(module) -> None:
    real = module.decode_image

    def decode_image(data, *args, **kwargs):
        _misbehave(data)
        return real(data, *args, **kwargs)

    module.decode_image = decode_image


def _wrap_listing(module) -> None:
    real = module.list_folder
    delay = float(os.environ["METER_OCR_TEST_LISTING_DELAY"])

    def list_folder(folder):
        for ref in real(folder):
            time.sleep(delay)
            yield ref

    module.list_folder = list_folder


WRAPPERS = {}
if os.environ.get("METER_OCR_TEST_FAULTS") == "1":
    WRAPPERS[DECODER_MODULE] = _wrap_decoder
if os.environ.get("METER_OCR_TEST_LISTING_DELAY"):
    WRAPPERS[LISTING_MODULE] = _wrap_listing


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        wrap = WRAPPERS.get(fullname)
        if wrap is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            wrap(module)

        spec.loader.exec_module = exec_and_wrap
        return spec


if WRAPPERS:
    sys.meta_path.insert(0, _Finder())
