#!/usr/bin/env bash
# Quick start, step 2 (and CI): every test. Installs what is missing, fetches the pinned headers, checks
# that the committed bindings are up to date, runs the Swift test suite (snippets, layout oracle,
# runtime and real-guest KVM tests) and the consumer-package check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
Scripts/install-dependencies.sh
headers/fetch.sh trixie x86_64
swift build --build-tests
swift run kvm-bindgen check --set trixie --arch x86_64
Scripts/consumer-check.sh
# Serially: the fd-count and stop-latency tests must not share the process with concurrent tests.
swift test --no-parallel
