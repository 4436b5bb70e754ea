#!/usr/bin/env bash
# A new user's checkout, as the README's quick start has it: clone the repository into a temporary folder,
# run the README's setup command there, and require `git status --porcelain` to be empty; then, with no
# network at all (a network namespace of its own), regenerate every committed architecture from the
# pinned sets and run `kvm-bindgen check --all`, and require the tree to be clean again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvm-clone.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "fresh clone: FAIL: $*" >&2; exit 1; }
clean() {
    local status
    status=$(git status --porcelain)
    [ -z "$status" ] || { echo "$status" >&2; fail "$1 left the tree modified"; }
}
git clone -q "$root" "$tmp/swift-kvm"
cd "$tmp/swift-kvm"
echo "fresh clone: $(git log -1 --format='%h %s' | cut -c1-80)"
Scripts/setup.sh
clean "Scripts/setup.sh"

offline=()
if unshare -n true 2>/dev/null; then offline=(unshare -n); else echo "fresh clone: unshare -n unavailable; regenerating with the network up"; fi
bindgen=$(swift build --show-bin-path)/kvm-bindgen
architectures=$(ls Sources/KVMBindings/Generated)
for arch in $architectures; do
    set=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["header"]["set"])' \
        "Sources/KVMBindings/Generated/$arch/KVMBindings.manifest.json")
    "${offline[@]}" "$bindgen" generate --set "$set" --arch "$arch"
done
"${offline[@]}" "$bindgen" check --all
clean "regenerating every committed architecture offline"
echo "fresh clone: 2 passed, 0 failed"
