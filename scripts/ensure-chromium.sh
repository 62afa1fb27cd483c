#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian's packages, for the browser tests of the
# report and the console (Selenium drives /usr/bin/chromium through /usr/bin/chromedriver).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
