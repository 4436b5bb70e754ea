#!/usr/bin/env bash
# Quick start, step 1: install dependencies, fetch the pinned KVM headers, build, and run the main job:
# regenerate the Swift bindings from linux/kvm.h (trixie, 6.12, x86_64) and run the hello VMM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
Scripts/install-dependencies.sh
headers/fetch.sh trixie x86_64
swift build --product kvm-bindgen
swift run kvm-bindgen generate --set trixie --arch x86_64
swift run kvm-bindgen check --set trixie --arch x86_64
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then swift run hello; else echo "setup: /dev/kvm not accessible; skipping hello"; fi
