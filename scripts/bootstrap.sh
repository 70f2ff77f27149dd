#!/usr/bin/env bash
# Installs what the project lacks before `npm start`, `npm test` and the benchmarks run:
# npm dependencies, Debian packages (when root; otherwise it stops and prints the exact command),
# and the Go-built tools k6 and versitygw (into a per-user cache shared by every clone).
# Usage: scripts/bootstrap.sh [start|test|bench|loadtest]
set -euo pipefail
mode="${1:-start}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- npm dependencies -------------------------------------------------------------------------
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# --- Debian packages ----------------------------------------------------------------------------
# What each command needs: the stack (nginx, PHP-FPM with Imagick) always; the test suite also a
# headless Chromium for the HTML report test.
need_cmds=(nginx php-fpm)
# acl: setfacl, to let the unprivileged legacy workers through a closed parent directory (/root).
need_pkgs=(nginx php-fpm php-imagick php-cli acl)
case "$mode" in
  test) need_pkgs+=(chromium python3-venv); need_cmds+=(chromium) ;;
  bench) need_pkgs+=(python3-venv) ;;
esac
missing=()
for pkg in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# --- Go-built tools: k6 (load tests) and versitygw (the S3-compatible server the tests start) ----
tools_bin="${GATEWAY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/image-gateway/bin}"
mkdir -p "$tools_bin"
go_tool() { # name module@version
  local name="$1" module="$2"
  if command -v "$name" >/dev/null || [ -x "$tools_bin/$name" ] || [ -x "$HOME/go/bin/$name" ]; then return; fi
  if ! command -v go >/dev/null; then
    say "$name is missing and Go is not installed to build it."
    say "install Go 1.23 or newer (https://go.dev/doc/install), then run: GOBIN=$tools_bin go install $module"
    exit 1
  fi
  say "building $name from the Go module proxy (once): go install $module"
  GOBIN="$tools_bin" go install "$module" >&2
}
case "$mode" in
  test) go_tool k6 go.k6.io/k6@v1.8.1; go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.7.0 ;;
  bench|loadtest) go_tool k6 go.k6.io/k6@v1.8.1 ;;
esac

# --- thumbor: a peer of the benchmark (and of its test), pinned, from PyPI into its own virtual environment ----
if [ "$mode" = bench ] || [ "$mode" = test ]; then
  thumbor_venv="${THUMBOR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/image-gateway/thumbor-venv}"
  if [ ! -x "$thumbor_venv/bin/thumbor" ] || ! "$thumbor_venv/bin/thumbor" --version 2>/dev/null | grep -q 'v7\.8\.0'; then
    if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      say "thumbor (a benchmark peer) needs python3 with venv: sudo apt-get install -y python3-venv"
      exit 1
    fi
    say "installing thumbor 7.8.0 into $thumbor_venv (once)"
    rm -rf "$thumbor_venv"
    python3 -m venv "$thumbor_venv" >&2
    "$thumbor_venv/bin/pip" install --quiet --disable-pip-version-check 'thumbor==7.8.0' >&2
  fi
fi
exit 0
