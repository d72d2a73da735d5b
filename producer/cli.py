"""`meter-ocr`: the operator's command line. Each command declares its options and calls plain
functions in `producer.jobs` / `producer.services`.

Importing this module loads neither TensorFlow nor OpenCV nor the worker code: commands that
need them (`run`, `read`, `eval`, `synth`, `worker`) import them inside their bodies.
"""

from __future__ import annotations

import os
import sys

import click

from producer.cli_local import evaluate, read, run, synth, worker
from producer.errors import describe_failure, mask_secrets
from producer.jobs import get_summary, model_version, owed_batches, record_job, wait_for_job
from producer.options import SETTINGS_META_KEY, force_option, profile_option, uses_settings
from producer.output import summary_lines, write_rows
from producer.services import open_broker, open_results_db, open_s3, parse_profile_option, secrets_of


class MeterOcrGroup(click.Group):
    """Turns any failure into one `error: ...` line and exit code 1 or 2, passwords masked."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # `meter-ocr results | head`: the reader left; stop quietly like other Unix tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except Exception as exc:
            if os.environ.get("METER_OCR_DEBUG"):
                raise
            failure = describe_failure(exc)
            secrets = secrets_of(ctx.meta.get(SETTINGS_META_KEY))
            click.echo(f"error: {mask_secrets(str(failure), secrets)}", err=True)
            ctx.exit(failure.exit_code)


@click.group(cls=MeterOcrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="meter-ocr")
def main() -> None:
    """Read utility meter photos in bulk: S3 or folders -> workers -> a results database."""
    # TensorFlow's C++ start-up chatter (CUDA probing, CPU flags) is noise for an operator.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@main.command()
@click.argument("source")
@force_option
@profile_option
@click.option("--wait", is_flag=True, envvar="METER_OCR_WAIT", show_envvar=True,
              help="Stay until every photo has a row, with a progress bar.")
@click.option("--timeout", type=float, envvar="METER_OCR_WAIT_TIMEOUT", show_envvar=True,
              help="With --wait: give up after this many seconds (exit 1).")
@uses_settings("database_url", "broker_url", "s3_endpoint_url", "model_dir", "batch_size", "queue")
def enqueue(settings, source: str, force: bool, profile: str | None, wait: bool, timeout: float | None) -> None:
    """Create a job for SOURCE (s3://bucket/prefix, a folder or a manifest) and queue its batches.

    Prints the job id. Photos already read by the same model are skipped unless --force.
    """
    from storage.listing import list_photos

    profile_spec = parse_profile_option(profile)
    app = open_broker(settings)
    _, session_factory = open_results_db(settings)
    version = model_version(settings.model_dir)
    sent: list[int] = []  # batches go out as each listing chunk is committed: workers start at once
    plan = record_job(
        source, list_photos(source, s3_client=_s3_for(source, settings)), session_factory=session_factory,
        model_version=version, profile=profile_spec, force=force, batch_size=settings.batch_size,
        on_batches=lambda job_id, batch_nos: sent.append(_send(app, job_id, batch_nos, settings.queue)),
    )
    sent = sum(sent)
    click.echo(plan.job_id)
    click.echo(f"listed {plan.listed} photos, skipped {plan.skipped} already read by {version}, "
               f"queued {sent} batches", err=True)
    if plan.continued:
        click.echo(f"continued unfinished job {plan.job_id} of this source (use --force for a new job)", err=True)
    if wait:
        _wait_with_progress(plan.job_id, session_factory, timeout)


@main.command()
@click.argument("job_id")
@click.option("--wait", is_flag=True, envvar="METER_OCR_WAIT", show_envvar=True,
              help="Stay until every photo has a row, with a progress bar.")
@uses_settings("database_url", "broker_url", "queue")
def resume(settings, job_id: str, wait: bool) -> None:
    """Re-queue the batches of JOB_ID that have no rows yet (after a broker or worker crash).

    Batches still on the broker (queued, or held by a worker) are left alone, so this is safe to
    run while workers are busy."""
    from producer.queue import send_batches
    from producer.reconcile import batches_on_broker

    app = open_broker(settings)
    _, session_factory = open_results_db(settings)
    owed = owed_batches(job_id, session_factory=session_factory)
    on_broker = batches_on_broker(app, settings.queue)
    lost = owed if on_broker is None else [no for no in owed if (job_id, no) not in on_broker]
    sent = send_batches(app, job_id, lost, queue=settings.queue)
    still = f" ({len(owed) - len(lost)} still on the broker)" if len(owed) > len(lost) else ""
    click.echo(f"job {job_id}: re-queued {sent} owed batches{still}")
    if wait:
        _wait_with_progress(job_id, session_factory, None)


@main.command()
@click.argument("job_id", required=False)
@uses_settings("database_url")
def status(settings, job_id: str | None) -> None:
    """Progress and counts per status of JOB_ID (default: the latest job)."""
    _, session_factory = open_results_db(settings, must_exist=True)
    for line in summary_lines(get_summary(job_id, session_factory=session_factory)):
        click.echo(line)


@main.command()
@click.argument("job_id", required=False)
@click.option("--status", "status_filter", envvar="METER_OCR_RESULTS_STATUS", show_envvar=True,
              type=click.Choice(["pending", "accepted", "review", "unreadable", "error"]),
              help="Only rows with this status.")
@click.option("--format", "fmt", default="table", show_default=True, envvar="METER_OCR_RESULTS_FORMAT",
              show_envvar=True, type=click.Choice(["table", "csv", "jsonl"]), help="Output format.")
@click.option("-o", "--output", type=click.File("w"), default="-", envvar="METER_OCR_RESULTS_OUTPUT",
              show_envvar=True, help="Write here instead of stdout.")
@uses_settings("database_url")
def results(settings, job_id: str | None, status_filter: str | None, fmt: str, output) -> None:
    """The rows of JOB_ID (default: the latest job), one per photo."""
    from results.repository import iter_results

    _, session_factory = open_results_db(settings, must_exist=True)
    job_id = get_summary(job_id, session_factory=session_factory).job_id
    with session_factory() as session, session.begin():
        rows = (row.to_json_dict() for row in iter_results(session=session, job_id=job_id, status=status_filter))
        count = write_rows(rows, output, fmt)
    if fmt == "table":
        click.echo(f"{count} rows", err=True)


@main.command()
@click.argument("source_uri")
@click.argument("reading")
@click.option("--job", "job_id", envvar="METER_OCR_JOB", show_envvar=True,
              help="Job of the row. [default: the latest job]")
@click.option("--reviewer", required=True, envvar="METER_OCR_REVIEWER", show_envvar=True,
              help="Who confirmed or corrected the reading.")
@uses_settings("database_url")
def review(settings, source_uri: str, reading: str, job_id: str | None, reviewer: str) -> None:
    """Record a person's READING for the photo SOURCE_URI (a `review` or any other row)."""
    from results.repository import apply_review

    if not reading.isdigit():
        raise click.BadParameter("a reading holds digits only", param_hint="READING")
    _, session_factory = open_results_db(settings, must_exist=True)
    job_id = get_summary(job_id, session_factory=session_factory).job_id
    with session_factory() as session, session.begin():
        apply_review(session=session, job_id=job_id, uri=source_uri, corrected_reading=reading, reviewer=reviewer)
    click.echo(f"job {job_id}: {source_uri} reviewed as {reading} by {reviewer}")


def _send(app, job_id: str, batch_nos: list[int], queue: str) -> int:
    from producer.queue import BrokerUnavailable, send_batches

    try:
        return send_batches(app, job_id, batch_nos, queue=queue)
    except BrokerUnavailable as exc:
        raise BrokerUnavailable(f"{exc}; job {job_id} is recorded: `meter-ocr resume {job_id}` "
                                "queues its batches once the broker is back") from exc


def _s3_for(source: str, settings):
    return open_s3(settings) if source.startswith("s3://") or source.endswith((".txt", ".csv")) else None


def _wait_with_progress(job_id: str, session_factory, timeout: float | None) -> None:
    first = get_summary(job_id, session_factory=session_factory)
    with click.progressbar(length=max(first.total, 1), label=f"job {job_id}", file=sys.stderr) as bar:
        seen = [0]

        def advance(done: int, total: int) -> None:
            bar.update(done - seen[0])
            seen[0] = done

        summary = wait_for_job(job_id, session_factory=session_factory, on_progress=advance, timeout_s=timeout)
    for line in summary_lines(summary):
        click.echo(line)


for _command in (run, read, worker, synth, evaluate):
    main.add_command(_command)


if __name__ == "__main__":
    main()
