#!/usr/bin/env bash
# Install headless Chromium and its WebDriver (Debian packages) for the browser tests, touching as
# little of the system as possible: no recommended packages, and no upgrade of anything already
# installed unless CI=true or ALLOW_UPGRADES=1. Prints exactly what it installs (and upgrades).
set -euo pipefail

PACKAGES=(chromium chromium-driver)

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "browser: already installed: $(chromium --version 2>/dev/null), $(chromedriver --version | head -n 1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "browser: error: installing ${PACKAGES[*]} needs root or sudo" >&2; exit 1; }
  SUDO=sudo
fi

$SUDO apt-get update -qq
# Dry run first: 'Inst NAME (VERSION ...)' is a new package, 'Inst NAME [OLD] (NEW ...)' an upgrade.
plan=$($SUDO apt-get install --simulate --no-install-recommends "${PACKAGES[@]}")
new=$(awk '/^Inst [^ ]+ \(/ {print $2}' <<<"$plan" | xargs)
upgrades=$(awk '/^Inst [^ ]+ \[/ {print $2}' <<<"$plan" | xargs)

if [ -n "$upgrades" ] && [ "${CI:-}" != true ] && [ "${ALLOW_UPGRADES:-}" != 1 ]; then
  echo "browser: error: installing ${PACKAGES[*]} would upgrade installed packages: $upgrades" >&2
  echo "browser: nothing was installed; rerun with ALLOW_UPGRADES=1 to accept the upgrades" >&2
  exit 1
fi

echo "browser: installing $(wc -w <<<"$new") packages (no recommends): $new"
[ -z "$upgrades" ] || echo "browser: upgrading (required by those packages): $upgrades"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "browser: installed $(chromium --version 2>/dev/null), $(chromedriver --version | head -n 1)"
