#!/usr/bin/env bash
# What the tests need beyond pip: Debian's chromium (the browser test drives it; Playwright never
# downloads a browser) and wordnet-base (the hierarchy script reads /usr/share/wordnet). Usage:
# system_deps.sh [PACKAGE ...] (default: both). Installs the missing ones with apt-get (as root, or
# through sudo); elsewhere, says what to install and fails.
set -euo pipefail

declare -A NEEDED_FILE=([chromium]=/usr/bin/chromium [wordnet-base]=/usr/share/wordnet/data.noun)
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(chromium wordnet-base)
missing=()
for package in "${packages[@]}"; do
  [ -e "${NEEDED_FILE[$package]}" ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if ! command -v apt-get >/dev/null || { [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; }; then
  echo "The tests need Debian's ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
  echo "and run the tests again." >&2
  exit 1
fi
echo "Installing ${missing[*]} with apt-get (needed by the tests) ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
