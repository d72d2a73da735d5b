"""The CLI's surface: light imports, --help everywhere, every option documented with its env var."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from producer.cli import main

COMMANDS = ["enqueue", "run", "read", "status", "results", "review", "resume", "worker", "synth", "eval"]


def test_every_command_is_there():
    assert sorted(main.commands) == sorted(COMMANDS)


def test_producer_path_loads_no_tensorflow_opencv_or_worker_code():
    code = (
        "import json, sys\n"
        "import producer.cli\n"
        "from click.testing import CliRunner\n"
        "result = CliRunner().invoke(producer.cli.main, ['enqueue', '--help'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'cv2', 'workers'))\n"
        "print(json.dumps({'exit': result.exit_code, 'heavy': heavy, 'usage': result.output.splitlines()[0]}))\n"
    )
    seen = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout.splitlines()[-1])
    assert seen == {"exit": 0, "heavy": [], "usage": "Usage: main enqueue [OPTIONS] SOURCE"}


@pytest.mark.parametrize("name", COMMANDS)
def test_help_and_env_fallback_on_every_option(name):
    from click.testing import CliRunner

    command = main.commands[name]
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert command.help
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help",):
            assert param.help, f"{name} {param.opts} has no help"
            assert param.envvar and str(param.envvar).startswith("METER_OCR_"), f"{name} {param.opts} has no env var"


def test_settings_env_names_are_the_design_names():
    from producer.settings import Settings

    options = {opt.name: opt.envvar for cmd in main.commands.values() for opt in cmd.params
               if isinstance(opt, click.Option)}
    for field in ("database_url", "broker_url", "s3_endpoint_url", "model_dir", "batch_size"):
        assert field in Settings.model_fields
        assert options[field] == f"METER_OCR_{field.upper()}"
