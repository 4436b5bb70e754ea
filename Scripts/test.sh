#!/usr/bin/env bash
# Quick start, step 2 (and CI): every test. Installs what is missing; downloads no headers (the pinned
# sets are committed under headers/sets). Checks that the bindings of every committed architecture are
# up to date, runs the header drift test (headers/fetch.sh fed local packages), the Swift test suite
# (snippets, the layout oracle for the host and for every pinned set × architecture, runtime and
# real-guest KVM tests), the consumer-package check, a fresh clone through the README's setup command
# with offline regeneration, the generator on a second libclang version, and every fuzzing campaign briefly
# (Scripts/fuzz-ci.sh: random guests, hostile device access, loader and generator input, resources), and
# every product's DocC catalog converted without a warning (Scripts/docs-check.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
step() { echo "== test.sh: $* ($(($(date +%s) - start)) s)"; }
step "dependencies"
Scripts/install-dependencies.sh
step "build"
swift build --build-tests
step "kvm-bindgen check --all"
swift run kvm-bindgen check --all
step "header drift"
Scripts/test-header-drift.sh
step "consumer package"
Scripts/consumer-check.sh
step "fresh clone"
Scripts/test-fresh-clone.sh
step "second libclang"
Scripts/test-libclang-versions.sh
step "DocC catalogs (no warnings)"
Scripts/docs-check.sh
step "fuzzing campaigns (brief)"
Scripts/fuzz-ci.sh
step "swift test"
# Serially: the fd-count and stop-latency tests must not share the process with concurrent tests.
swift test --no-parallel
step "done"
