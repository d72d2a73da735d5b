#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine too: installs what is missing (redis-server,
# Postgres 15, python3-venv) with apt-get, makes .venv with the `test` extra, then runs every
# test (unit, model, and integration tests that start real Redis, Postgres and moto's S3
# server themselves on free loopback ports). Extra arguments go to pytest.
#
#   bash infra/test.sh                 # everything
#   bash infra/test.sh -m "not slow"   # a quicker pass
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
id postgres >/dev/null 2>&1 || [[ " ${missing[*]-} " == *" postgresql "* ]] || missing+=(postgresql)
"$PYTHON" -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: need root (or sudo) to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -e '.[test]'

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
