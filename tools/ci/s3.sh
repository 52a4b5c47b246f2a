#!/usr/bin/env bash
# Starts an S3-compatible server on 127.0.0.1:59000 for the storage tests: moto's server
# (PyPI `moto[server]`, Apache-2.0), a real HTTP S3 API, and makes the bucket `kino-test`.
# Prints the variables the tests read. Usage: eval "$(tools/ci/s3.sh)"
set -euo pipefail
port=${KINO_S3_PORT:-59000}
if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet "moto[server]" >&2
fi
http() { python3 -c "import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[2], method=sys.argv[1]), timeout=5)" "$@" 2>/dev/null; }
if ! http GET "http://127.0.0.1:$port/"; then
  (setsid nohup moto_server -H 127.0.0.1 -p "$port" >/tmp/kino-moto.log 2>&1 &)
  for _ in $(seq 1 100); do
    http GET "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
fi
http PUT "http://127.0.0.1:$port/kino-test"
echo "export KINO_TEST_S3_URL=s3://kino-test/ci AWS_ENDPOINT=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
