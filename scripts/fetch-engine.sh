#!/usr/bin/env bash
# Fetches the pinned Rivet engine binary (once) and prints its path.
#
# The binary ships in the npm package below; it is cached, like the Rust
# harness does it (tests/src/engine/fetch.rs, keep the two in step), at
#   ${CARGO_TARGET_DIR:-<repo>/target}/rivet-engine/<version>/rivet-engine
# $RIVET_ENGINE_BIN, when set, names another binary to use instead.
#
# Only the path goes to stdout, so `engine="$(scripts/fetch-engine.sh)"` works;
# progress and errors go to stderr. Exits non-zero when the engine cannot be had.
set -euo pipefail

VERSION=2.3.19
PACKAGE=@rivetkit/engine-cli-linux-x64-musl
NPM_TIMEOUT=180

die() {
    echo "fetch-engine: $*" >&2
    exit 1
}

if [[ -n "${RIVET_ENGINE_BIN:-}" ]]; then
    [[ -f "$RIVET_ENGINE_BIN" ]] || die "RIVET_ENGINE_BIN=$RIVET_ENGINE_BIN is not a file"
    echo "$RIVET_ENGINE_BIN"
    exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in
    /*) ;;
    *) target="$root/$target" ;;
esac
dest="$target/rivet-engine/$VERSION/rivet-engine"

if [[ -f "$dest" && -x "$dest" ]]; then
    echo "$dest"
    exit 0
fi

command -v npm >/dev/null || die "npm is not installed (needed to fetch $PACKAGE@$VERSION)"
command -v tar >/dev/null || die "tar is not installed"

# Unpack next to the cache (same filesystem), then rename into place: the
# rename is atomic, so concurrent fetches each install a complete file.
mkdir -p "$(dirname "$dest")"
work="$(mktemp -d "$(dirname "$dest")/.fetch-XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-engine: npm pack $PACKAGE@$VERSION" >&2
if ! (cd "$work" && npm_config_update_notifier=false npm_config_fund=false \
    timeout "$NPM_TIMEOUT" npm pack "$PACKAGE@$VERSION" --loglevel=error >npm-pack.log 2>&1); then
    tail -n 20 "$work/npm-pack.log" >&2 || true
    die "npm pack $PACKAGE@$VERSION failed (no access to the npm registry?)"
fi
tarball="$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)"
[[ -n "$tarball" ]] || die "npm pack left no tarball"
tar xzf "$tarball" -C "$work"
binary="$work/package/rivet-engine"
[[ -f "$binary" ]] || die "$tarball has no package/rivet-engine"
chmod 755 "$binary"
"$binary" --version 2>/dev/null | grep -q "$VERSION" ||
    die "$binary --version does not report $VERSION"
mv -f "$binary" "$dest"
echo "$dest"
