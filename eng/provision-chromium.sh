#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver (Debian's chromium and chromium-driver packages) are installed for the
# dashboard's browser tests. Idempotent: installs only what is missing; nothing is downloaded at test time.
set -euo pipefail

log() { printf 'provision-chromium: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
  if [[ "$(id -u)" == "0" ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    die "installing Chromium needs root (or sudo): $*"; fi
}

if { [[ -x /usr/bin/chromium ]] || [[ -x /usr/bin/chromium-browser ]]; } && [[ -x /usr/bin/chromedriver ]]; then
  exit 0
fi

log "installing Chromium and its driver from the Debian repositories (apt-get install chromium chromium-driver)"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get install -y -q --no-install-recommends chromium chromium-driver >&2 \
  || { as_root apt-get update -q >&2 && as_root apt-get install -y -q --no-install-recommends chromium chromium-driver >&2; } \
  || die "apt-get install chromium chromium-driver failed."
[[ -x /usr/bin/chromedriver ]] || die "chromium-driver installed, but /usr/bin/chromedriver is missing."
