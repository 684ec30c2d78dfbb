#!/usr/bin/env bash
# Print a PYENV_VERSION value that activates every installed CPython 3.10-3.13 (newest patch
# release of each), the currently selected version first so `python3` keeps its meaning.
# Prints nothing where pyenv is not installed. Used by `make tox` and .ci/run.
set -euo pipefail

command -v pyenv >/dev/null 2>&1 || exit 0

current=$(pyenv version-name 2>/dev/null | cut -d: -f1 || true)
versions=()
[[ -n "$current" && "$current" != system ]] && versions+=("$current")
for minor in 10 11 12 13; do
    newest=$(pyenv versions --bare --skip-aliases 2>/dev/null \
        | grep -E "^3\.${minor}\.[0-9]+$" | sort -t. -k3,3n | tail -n1 || true)
    if [[ -n "$newest" && "$newest" != "$current" ]]; then
        versions+=("$newest")
    fi
done
(IFS=:; echo "${versions[*]}")
