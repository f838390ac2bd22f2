#!/usr/bin/env bash
# Where the browser is: the one place that decides which Chromium the status page's browser test
# (test/e2e/status-page.test.ts, driven by playwright-core, which never downloads a browser) uses.
#
#   bash scripts/ensure-chromium.sh          find it, install Debian's chromium if there is none
#                                            (saying what and why first), then print its path on
#                                            stdout (npm test's pretest, CI)
#   bash scripts/ensure-chromium.sh --find   only find it: print its path, or exit 1 saying why
#                                            (the test calls this, so it never installs anything)
#
# Search order: $CHROMIUM_PATH (which must then be an executable: an explicit choice is never
# replaced by a guess), then the first of these names on PATH. Messages go to stderr, so stdout
# is only the path.
set -euo pipefail
NAMES=(chromium chromium-browser google-chrome-stable google-chrome chrome)

say() { echo "ensure-chromium: $*" >&2; }

find_browser() {
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    if [ -x "$CHROMIUM_PATH" ] && [ ! -d "$CHROMIUM_PATH" ]; then echo "$CHROMIUM_PATH"; return 0; fi
    say "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file; fix it or unset it to search PATH"
    return 2
  fi
  local name found
  for name in "${NAMES[@]}"; do
    if found="$(command -v "$name" 2>/dev/null)" && [ -n "$found" ]; then echo "$found"; return 0; fi
  done
  return 1
}

status=0
path="$(find_browser)" || status=$?
if [ "$status" = 0 ]; then
  if [ "${1:-}" != "--find" ]; then say "the status page's browser test will use $path"; fi
  echo "$path"
  exit 0
fi
if [ "$status" = 2 ]; then exit 1; fi

looked="looked at \$CHROMIUM_PATH (unset) and for ${NAMES[*]} on PATH"
if [ "${1:-}" = "--find" ]; then
  say "no Chromium or Chrome found ($looked). Install one, set CHROMIUM_PATH, or run: bash scripts/ensure-chromium.sh"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "no Chromium or Chrome found ($looked), and this is not a Debian/Ubuntu system (no apt-get)."
  say "npm test needs one for the status page's browser test: install Chromium or Chrome, or set CHROMIUM_PATH=/path/to/chrome."
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
say "no Chromium or Chrome found ($looked)."
say "npm test opens the status page in a headless browser (test/e2e/status-page.test.ts), so it will now install"
say "Debian's chromium package (about 100 MB with its libraries) with: ${sudo:+sudo }apt-get update && ${sudo:+sudo }apt-get install -y chromium"
say "To use a browser you already have instead, press Ctrl-C and set CHROMIUM_PATH=/path/to/chrome."
# On a terminal, a moment to read that before apt-get starts (sudo may also ask for a password).
if [ -t 2 ] && [ -z "${CI:-}" ]; then say "starting in 5 s"; sleep 5; fi
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium >&2
path="$(find_browser)" || { say "chromium was installed but is still not found on PATH"; exit 1; }
say "installed $path"
echo "$path"
