#!/usr/bin/env bash
# The status page's browser test drives Debian's chromium (playwright-core never downloads a
# browser). npm test runs this first, and so does CI: it installs chromium only when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo "installing Debian's chromium for the status page's browser test (apt-get)"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
