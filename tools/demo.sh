#!/usr/bin/env bash
# `make run`: the dtrack demo. Usage: tools/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
echo "== dtrack doctor: which kernel mechanisms this machine offers =="
"$build/dtrack" doctor
