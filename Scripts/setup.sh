#!/usr/bin/env bash
# Quick start, step 1: install dependencies, build, and run the main job: regenerate the Swift bindings
# from linux/kvm.h of the pinned header set committed under headers/sets (trixie, 6.12, x86_64; nothing is
# downloaded), check them, and run the hello VMM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
Scripts/install-dependencies.sh
swift build --product kvm-bindgen
swift run kvm-bindgen generate --set trixie --arch x86_64
swift run kvm-bindgen check --set trixie --arch x86_64
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then swift run hello; else echo "setup: /dev/kvm not accessible; skipping hello"; fi
