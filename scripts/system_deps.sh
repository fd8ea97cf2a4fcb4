#!/usr/bin/env bash
# What the tests need beyond pip: Debian's chromium (the browser test drives it; Playwright never
# downloads a browser) and wordnet-base (the hierarchy script reads /usr/share/wordnet). Installed
# with apt-get when missing (as root, or through sudo); elsewhere, says what to install and fails.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -f /usr/share/wordnet/data.noun ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if ! command -v apt-get >/dev/null || { [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; }; then
  echo "The tests need Debian's chromium and wordnet-base (/usr/bin/chromium, /usr/share/wordnet);" >&2
  echo "install them (apt-get install chromium wordnet-base) and run make test again." >&2
  exit 1
fi
echo "Installing chromium and wordnet-base with apt-get (needed by the tests) ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium wordnet-base >/dev/null
