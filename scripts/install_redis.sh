#!/usr/bin/env bash
# Install redis-server (the live state's shared backend, docs/operations.md) when it is missing.
# Uses Debian's package through apt-get, only as root with apt-get present; otherwise it says
# why and does nothing (the tests that need a redis-server then skip, saying so). Idempotent.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server present: $(redis-server --version)"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "redis-server missing and apt-get not usable as root here: install it by hand" \
         "(docs/operations.md); the Redis live-state tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }; then
    echo "apt-get could not install redis-server (no package source reachable?); the Redis" \
         "live-state tests will skip" >&2
    exit 0
fi
# the package may start a system service on 6379; the tests start their own private servers
echo "installed: $(redis-server --version)"
