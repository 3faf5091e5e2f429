#!/usr/bin/env bash
# A Release configuration must leave the test-only fault points out: in such a build
# FL_FAULT_POINT can not kill the daemon. Configures a scratch build tree (no compiling) and reads
# the cached option.
set -euo pipefail
src=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for type in Release MinSizeRel; do
    cmake -S "$src" -B "$dir/$type" -DCMAKE_BUILD_TYPE=$type >/dev/null
    grep -qx 'FAULT_POINTS:BOOL=OFF' "$dir/$type/CMakeCache.txt" ||
        { echo "$type build compiles fault points in" >&2; exit 1; }
done
cmake -S "$src" -B "$dir/RelWithDebInfo" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
grep -qx 'FAULT_POINTS:BOOL=ON' "$dir/RelWithDebInfo/CMakeCache.txt" ||
    { echo "the test build (RelWithDebInfo) lost its fault points" >&2; exit 1; }
echo "ok: Release and MinSizeRel without fault points, RelWithDebInfo with them"
