#!/usr/bin/env bash
# dondoc's benchmark in one command: builds the release binary, then runs scripts/bench.py.
#   scripts/bench.sh                                  # 1,000,000 dossiers, 200,000 documents, 200 units
#   scripts/bench.sh --dossiers 20000 --documents 4000  # a quick smoke run
#   scripts/bench.sh --postgres postgres://postgres@127.0.0.1:5432/postgres
# Figures and how to read them: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 scripts/bench.py "$@"
