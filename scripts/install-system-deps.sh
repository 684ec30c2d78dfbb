#!/usr/bin/env bash
# Install the Debian packages the test suite needs, if any are missing:
#   libmariadb-dev, pkg-config  to build mysqlclient (the MariaDB driver)
#   chromium                    the browser the e2e tests drive through Playwright
#   wrk                         the HTTP load generator of the benchmarks (make bench)
# As root with apt-get this installs them; otherwise it says what is missing and carries on
# (the affected tests then skip, or fail under SUPERTOKENS_REQUIRE_SERVICES=1).
set -euo pipefail

packages=(libmariadb-dev pkg-config chromium wrk)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "system-deps: missing ${missing[*]}; install them with:" >&2
    echo "    sudo apt-get install ${missing[*]}" >&2
fi
