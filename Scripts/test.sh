#!/usr/bin/env bash
# Quick start, step 2 (and CI): every test. Installs what is missing, fetches every pinned header set
# (4 sets × 3 architectures, verified by checksum), checks that the bindings of every committed
# architecture are up to date, runs the Swift test suite (snippets, the layout oracle for the host and
# for every set × architecture, runtime and real-guest KVM tests) and the consumer-package check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
Scripts/install-dependencies.sh
headers/fetch.sh all
swift build --build-tests
swift run kvm-bindgen check --all
Scripts/consumer-check.sh
# Serially: the fd-count and stop-latency tests must not share the process with concurrent tests.
swift test --no-parallel
