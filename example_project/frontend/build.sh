#!/usr/bin/env bash
# Build the SuperTokens browser SDK (npm supertokens-website, pinned in package.json) into one
# browser script, example_project/static/vendor/supertokens.js, exposing the global `supertokens`.
# Nothing of the SDK is committed (PROTOCOL.md §11); the example page and the browser tests load
# this file. Does nothing when the bundle is newer than package-lock.json (FORCE=1 rebuilds).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(cd "$here/.." && pwd)/static/vendor/supertokens.js"
lock="$here/package-lock.json"

if [[ "${FORCE:-0}" != 1 && -f "$out" && -f "$lock" && "$out" -nt "$lock" ]]; then
    echo "build.sh: $out is up to date"
    exit 0
fi

command -v npm >/dev/null || { echo "build.sh: npm not found (install Node.js and npm)" >&2; exit 1; }
cd "$here"
# --ignore-scripts: neither package needs its install script (esbuild's binary comes from its
# platform package and runs through a JS shim), and scripts are code we would not have reviewed.
if [[ -f "$lock" ]]; then
    npm ci --ignore-scripts --no-audit --no-fund
else
    npm install --ignore-scripts --no-audit --no-fund
fi

mkdir -p "$(dirname "$out")"
# bundleEntry.js re-exports every named export of the SDK (init, doesSessionExist, signOut, ...),
# which the IIFE puts on window.supertokens - the same global as the SDK's own browser bundle.
./node_modules/.bin/esbuild node_modules/supertokens-website/lib/build/bundleEntry.js \
    --bundle --format=iife --global-name=supertokens --platform=browser --target=es2017 \
    --log-level=warning --outfile="$out.tmp"
mv "$out.tmp" "$out"   # atomic, so a half-written bundle never looks up to date
echo "build.sh: wrote $out"
