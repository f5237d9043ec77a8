#!/bin/sh
# Installs what the browser tests need: Debian's chromium (Playwright's own
# browser downloads are not used) and the exact npm packages of
# package-lock.json. Safe to run again; `make browser-deps` runs it.
set -eu
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium fonts-noto-color-emoji
fi

# playwright-core never downloads a browser; the variable only makes sure.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
