"""The commands that run the model in this process or start a worker: `run`, `read`, `eval`,
`synth`, `worker`. Their heavy imports (TensorFlow, OpenCV, the worker code) happen inside the
command bodies, so `import producer.cli` and every `--help` stay light."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from producer.errors import EXIT_USAGE, CliFailure
from producer.jobs import get_summary, model_version, record_job
from producer.options import force_option, profile_option, uses_settings
from producer.output import summary_lines
from producer.services import open_results_db, open_s3, parse_profile_option

log = logging.getLogger(__name__)


@click.command()
@click.argument("source")
@force_option
@profile_option
@uses_settings("database_url", "s3_endpoint_url", "model_dir", "batch_size", "fetch_concurrency")
def run(settings, source: str, force: bool, profile: str | None) -> None:
    """Read SOURCE here, start to finish, with no broker: the embedded default.

    Same batches and task code as the workers; results go to the --database-url
    (a SQLite file by default). Prints a summary at the end.
    """
    from workers.embedded import run_job_here

    profile_spec = parse_profile_option(profile)
    _, session_factory = open_results_db(settings)
    from storage.listing import list_photos

    plan = record_job(
        source, list_photos(source, s3_client=open_s3(settings)), session_factory=session_factory,
        model_version=model_version(settings.model_dir), profile=profile_spec, force=force,
        batch_size=settings.batch_size,
    )
    click.echo(f"job {plan.job_id}: {plan.total} photos to read ({plan.skipped} already read)", err=True)
    started = time.perf_counter()
    with click.progressbar(length=max(plan.total, 1), label="reading", file=sys.stderr) as bar:
        run_job_here(plan.job_id, plan.batches, settings=settings, on_batch=lambda report: bar.update(report.photos))
    elapsed = time.perf_counter() - started
    for line in summary_lines(get_summary(plan.job_id, session_factory=session_factory)):
        click.echo(line)
    rate = plan.total / elapsed if elapsed > 0 else 0.0
    click.echo(f"read {plan.total} photos in {elapsed:.1f}s ({rate:.1f} photos/s)")
    click.echo(f"results: {_describe_db(settings)}  (meter-ocr results {plan.job_id})")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--crop", is_flag=True, envvar="METER_OCR_CROP", show_envvar=True,
              help="The images are already counter windows (skip location).")
@click.option("--digits", type=click.IntRange(1, 16), envvar="METER_OCR_DIGITS", show_envvar=True,
              help="Expected digit count (constrains decoding).")
@click.option("--json", "as_json", is_flag=True, envvar="METER_OCR_JSON", show_envvar=True,
              help="One JSON object per line.")
@profile_option
@uses_settings("s3_endpoint_url", "model_dir", "batch_size", "fetch_concurrency")
def read(settings, paths: tuple[str, ...], crop: bool, digits: int | None, as_json: bool, profile: str | None) -> None:
    """Read photos right here, no services: files, folders, manifests or s3:// URIs."""
    import json

    from storage.listing import list_photos
    from workers.embedded import read_refs_here

    profile_spec = parse_profile_option(profile)
    s3_client = open_s3(settings)
    refs = [ref for path in paths for ref in list_photos(path, s3_client=s3_client)]
    if not refs:
        click.echo(f"no photos found in {', '.join(paths)}", err=True)
        return
    for outcome in read_refs_here(refs, settings=settings, s3_client=s3_client, profile_spec=profile_spec,
                                  crop=crop, digits=digits):
        row = outcome.reading.to_json_dict(outcome.uri)
        if as_json:
            click.echo(json.dumps(row))
        else:
            conf = "-" if row["confidence"] is None else f"{row['confidence']:.3f}"
            detail = f"  ({row['reason']})" if row["reason"] else ""
            click.echo(f"{row['status']:<10} {row['reading'] or '-':<12} {conf:>6}  {outcome.uri}{detail}")


@click.command(name="eval")
@click.argument("labels_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crop", is_flag=True, envvar="METER_OCR_CROP", show_envvar=True,
              help="The images are already counter windows.")
@click.option("--digits", type=click.IntRange(1, 16), envvar="METER_OCR_DIGITS", show_envvar=True,
              help="Expected digit count (constrains decoding).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=Path("risk-coverage.png"),
              show_default=True, envvar="METER_OCR_EVAL_PLOT", show_envvar=True,
              help="Where to save the risk-coverage curve (PNG).")
@uses_settings("model_dir")
def evaluate(settings, labels_csv: Path, crop: bool, digits: int | None, plot: Path) -> None:
    """Score the reader on LABELS.csv (path,label): accuracy, coverage at 99.5% precision,
    confusion table, and a risk-coverage plot."""
    from model.evaluate import LabelsError, evaluate_labels, format_report

    try:
        report = evaluate_labels(labels_csv, model_dir=settings.model_dir, crop=crop, digits=digits, plot=plot)
    except LabelsError as exc:
        raise CliFailure(str(exc), EXIT_USAGE) from None
    click.echo(format_report(report))


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", type=click.IntRange(1, 1_000_000), default=40, show_default=True,
              envvar="METER_OCR_SYNTH_COUNT", show_envvar=True, help="How many photos to write.")
@click.option("--seed", type=int, default=0, show_default=True, envvar="METER_OCR_SYNTH_SEED", show_envvar=True,
              help="Random seed (same seed, same photos).")
def synth(out_dir: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic meter photos and OUT_DIR/labels.csv (path,label)."""
    from model.samples import write_samples

    write_samples(out_dir, count, seed)
    click.echo(f"wrote {count} photos and {out_dir / 'labels.csv'}")


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 256), envvar="METER_OCR_WORKER_CONCURRENCY", show_envvar=True,
              help="Pool processes. [default: one per GPU, else one per CPU core]")
@click.option("--loglevel", default="INFO", show_default=True, envvar="METER_OCR_LOGLEVEL", show_envvar=True,
              help="Celery log level.")
@click.option("--hostname", envvar="METER_OCR_WORKER_HOSTNAME", show_envvar=True,
              help="Celery node name, e.g. gpu1@%h.")
@uses_settings("database_url", "broker_url", "s3_endpoint_url", "model_dir", "queue")
def worker(settings, concurrency: int | None, loglevel: str, hostname: str | None) -> None:
    """Start a Celery worker: prefork pool, late acks, time limits and child recycling."""
    from workers.launch import start_worker

    start_worker(settings, concurrency=concurrency, loglevel=loglevel, hostname=hostname)


def _describe_db(settings) -> str:
    from results.db import describe_url

    return describe_url(settings.database_url.get_secret_value())
