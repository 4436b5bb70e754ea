#!/usr/bin/env bash
# Builds every library product's symbol graphs and converts each DocC catalog with the toolchain's
# `docc` (the package has no swift-docc-plugin), failing on any DocC warning: unresolved symbol links,
# topics that name symbols that no longer exist, malformed articles.
#
#   Scripts/docs-check.sh            (scratch build in .build-docs, archives in .build-docs/archives)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scratch=${DOCS_SCRATCH:-"$root/.build-docs"}
graphs="$scratch/symbol-graphs"
docc=${DOCC:-$(command -v docc || echo "$(dirname "$(readlink -f "$(command -v swift)")")/docc")}
# Symbol graphs are emitted when a module compiles: keep them between runs (an up-to-date module
# is not recompiled and would emit none).
rm -rf "$scratch/archives" && mkdir -p "$graphs" "$scratch/archives"
products=(KVMBindings KVM X86Setup X86Assembler LinuxLoader DeviceBus LegacyDevices ACPITables EmulatedCPL0Fallbacks VirtioQueue VirtioMMIO VirtioDevices)
# Each product is a target of the same name (an "automatic" library product cannot be built with --product).
for product in "${products[@]}"; do
    swift build --scratch-path "$scratch" --target "$product" \
        -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$graphs" >"$scratch/build.log" 2>&1 \
        || { cat "$scratch/build.log"; exit 1; }
done
failed=0
for product in "${products[@]}"; do
    catalog="Sources/$product/$product.docc"
    [ -d "$catalog" ] || { echo "docs-check: $product has no DocC catalog"; failed=1; continue; }
    product_graphs="$scratch/graphs-$product"
    rm -rf "$product_graphs" && mkdir -p "$product_graphs"
    cp "$graphs/$product".symbols.json "$graphs/$product"@*.symbols.json "$product_graphs/" 2>/dev/null || true
    log=$("$docc" convert "$catalog" --additional-symbol-graph-dir "$product_graphs" \
        --fallback-display-name "$product" --fallback-bundle-identifier "swift-kvm.$product" \
        --output-path "$scratch/archives/$product.doccarchive" 2>&1) || { echo "$log"; failed=1; continue; }
    warnings=$(grep -cE "^(warning|error):|: (warning|error):" <<<"$log" || true)
    if [ "$warnings" -gt 0 ]; then
        echo "docs-check: $product: $warnings warnings"
        grep -E "(warning|error):" <<<"$log" | sed 's/^/  /'
        failed=1
    else
        echo "docs-check: $product: no warnings"
    fi
done
exit $failed
