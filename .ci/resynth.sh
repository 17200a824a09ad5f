#!/usr/bin/env bash
# Build GIMP 3's Resynthesizer ("Heal Selection", bootchk/resynthesizer) for
# the GIMP 3 host environment of .ci/hosts.sh. Optional peer of the inpaint
# benchmark (benchmarks/tasks/_resynth.py); NOT part of CI.
#
#   bash .ci/resynth.sh SOURCE     build (or reuse) and install; prints the
#                                  plug-ins folder as the LAST stdout line
#   bash .ci/resynth.sh            same, cloning SOURCE with git from
#                                  $RESYNTH_URL (branch $RESYNTH_REF) if the
#                                  network allows
#   bash .ci/resynth.sh --path     print the installed plug-ins folder; exit 1
#                                  when nothing is built yet (no side effects)
#
# SOURCE is one of
#   - a source tree (the resynthesizer3 branch: meson.build at its top),
#   - a tarball of one (.tar, .tar.gz, .tgz, .tar.xz; `git archive` output
#     keeps its commit id),
#   - a git repository or bare git dir (e.g. a mirror): $RESYNTH_REF is
#     exported with `git archive` (default: resynthesizer3, the GIMP 3 branch),
#   - a git URL (cloned with --depth 1 -b $RESYNTH_REF).
#
# What it does (idempotent, the build is cached):
#   1. `bash .ci/hosts.sh provision` is NOT run: the host environment must
#      exist (`bash .ci/hosts.sh root`). Installs the build dependencies into it
#      with apt-get when missing (meson ninja-build gcc pkg-config
#      libgimp-3.0-dev gettext).
#   2. Builds with meson + ninja inside the environment, in
#        ${PHOTOMEND_HOSTS_CACHE:-/var/cache/photomend-hosts}/resynthesizer-<id>/
#      (<id> = 12 chars of the git commit, else a hash of the source files),
#      installing to .../resynthesizer-<id>/prefix; the plug-ins end up in
#        .../resynthesizer-<id>/prefix/lib/gimp/3.0/plug-ins/
#          resynthesizer/resynthesizer                  (engine, PDB plug-in-resynthesizer)
#          plug-in-heal-selection/plug-in-heal-selection.scm  (PDB plug-in-heal-selection)
#          ... the other outer plug-ins (Script-Fu)
#      Nothing is installed into the environment's system plug-in folder.
#   3. Points the stable link ${PHOTOMEND_HOSTS_CACHE:-...}/resynthesizer at
#      that build. benchmarks/tasks/_resynth.py reads that link (or
#      $PHOTOMEND_RESYNTH_PLUGINS) and copies the plug-ins into a throw-away
#      GIMP profile ($HOME/.config/GIMP/3.0/plug-ins) for each run.
#   A second run with the same source only checks and prints (< 1 s).
#
# Environment: PHOTOMEND_HOSTS_CACHE, RESYNTH_REF (default resynthesizer3),
# RESYNTH_URL (default https://github.com/bootchk/resynthesizer), JOBS (ninja
# -j, default 2). Needs root (like .ci/hosts.sh exec). Progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOSTS="$HERE/hosts.sh"
CACHE="$(realpath -m "${PHOTOMEND_HOSTS_CACHE:-/var/cache/photomend-hosts}")"
REF="${RESYNTH_REF:-resynthesizer3}"
URL="${RESYNTH_URL:-https://github.com/bootchk/resynthesizer}"
JOBS="${JOBS:-2}"
LINK="$CACHE/resynthesizer"
PLUGDIR_REL="prefix/lib/gimp/3.0/plug-ins"
BUILD_DEPS=(meson ninja-build gcc pkg-config libgimp-3.0-dev gettext)

log() { printf '[resynth] %s\n' "$*" >&2; }
die() { printf '[resynth] error: %s\n' "$*" >&2; exit 2; }

if [ "${1:-}" = "--path" ]; then
    [ -f "$LINK/.ready" ] || exit 1
    printf '%s\n' "$(realpath "$LINK")/$PLUGDIR_REL"
    exit 0
fi
case "${1:-}" in -h|--help) sed -n '2,44p' "$0"; exit 0 ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (like .ci/hosts.sh exec)"
ROOT="$(bash "$HOSTS" root)" || die "no GIMP 3 host environment; run: bash .ci/hosts.sh provision"
mkdir -p "$CACHE"
exec 9>"$CACHE/.resynth.lock"
flock 9

TMP="$(mktemp -d "$CACHE/.resynth-src.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
SRC="$TMP/src"
mkdir -p "$SRC"
COMMIT=""

# ---- 1. the source, unpacked into $SRC -------------------------------------
source_arg="${1:-$URL}"
if [ -d "$source_arg" ] && { [ -d "$source_arg/.git" ] || [ -f "$source_arg/HEAD" ]; } \
        && [ ! -f "$source_arg/meson.build" ]; then
    gitdir="$source_arg"; [ -d "$source_arg/.git" ] && gitdir="$source_arg/.git"
    COMMIT="$(git --git-dir="$gitdir" rev-parse --verify "$REF^{commit}")" \
        || die "no ref $REF in $source_arg"
    git --git-dir="$gitdir" archive "$COMMIT" | tar -x -C "$SRC"
    log "source: $source_arg @ $REF = $COMMIT"
elif [ -d "$source_arg" ]; then
    [ -f "$source_arg/meson.build" ] || die "$source_arg has no meson.build (need the resynthesizer3 branch)"
    cp -a "$source_arg/." "$SRC/"
    if git -C "$source_arg" rev-parse --verify HEAD >/dev/null 2>&1 \
            && [ -z "$(git -C "$source_arg" status --porcelain 2>/dev/null)" ]; then
        COMMIT="$(git -C "$source_arg" rev-parse HEAD)"
    fi
    rm -rf "$SRC/.git"
    log "source: $source_arg${COMMIT:+ @ $COMMIT}"
elif [ -f "$source_arg" ]; then
    case "$source_arg" in
        *.tar) COMMIT="$(git get-tar-commit-id < "$source_arg" 2>/dev/null || true)" ;;
        *.tar.gz|*.tgz) COMMIT="$(gzip -dc "$source_arg" | git get-tar-commit-id 2>/dev/null || true)" ;;
    esac
    tar -xf "$source_arg" -C "$SRC"
    # a single top folder (GitHub tarballs) is the tree
    if [ ! -f "$SRC/meson.build" ] && [ "$(find "$SRC" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ]; then
        top="$(find "$SRC" -mindepth 1 -maxdepth 1)"; mv "$top" "$TMP/top"; rmdir "$SRC"; mv "$TMP/top" "$SRC"
    fi
    [ -f "$SRC/meson.build" ] || die "$source_arg holds no meson.build (need the resynthesizer3 branch)"
    log "source: $source_arg${COMMIT:+ (commit $COMMIT)}"
else
    log "cloning $source_arg ($REF)"
    rmdir "$SRC"
    git clone -q --depth 1 -b "$REF" "$source_arg" "$SRC" \
        || die "cannot clone $source_arg; pass a source tree, tarball or git dir (see the top of $0)"
    COMMIT="$(git -C "$SRC" rev-parse HEAD)"
    rm -rf "$SRC/.git"
fi
grep -q "plug-in-heal-selection" "$SRC/meson.build" 2>/dev/null \
    || die "not the GIMP 3 (meson) Resynthesizer: meson.build lacks plug-in-heal-selection"

if [ -n "$COMMIT" ]; then
    ID="${COMMIT:0:12}"
else
    ID="src-$( (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12)"
fi
DEST="$CACHE/resynthesizer-$ID"
PLUGDIR="$DEST/$PLUGDIR_REL"
gimp_version() { bash "$HOSTS" exec -- dpkg-query -W -f '${Version}' libgimp-3.0-0 2>/dev/null || true; }

# ---- 2. cached? --------------------------------------------------------------
if [ -f "$DEST/.ready" ] && [ "$(cat "$DEST/.ready")" = "$(gimp_version)" ] \
        && [ -x "$PLUGDIR/resynthesizer/resynthesizer" ]; then
    log "cached build $DEST"
else
    # ---- 3. build dependencies in the host environment ------------------------
    missing=()
    for p in "${BUILD_DEPS[@]}"; do
        bash "$HOSTS" exec -- dpkg-query -W -f '${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing into the host environment: ${missing[*]}"
        bash "$HOSTS" exec -- env DEBIAN_FRONTEND=noninteractive \
            sh -c 'apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
                   || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "$@"; }' \
            sh "${missing[@]}" >&2
    fi
    # ---- 4. build + install (in a temp dir, renamed when complete) -------------
    rm -rf "$DEST"
    WORK="$CACHE/.resynth-build-$ID"
    rm -rf "$WORK"
    mkdir -p "$WORK"
    cp -a "$SRC" "$WORK/src"
    log "building in $WORK (meson + ninja, inside $ROOT)"
    # Configure with the final prefix, stage the install with DESTDIR, then
    # move it into place: $DEST only appears once the build is complete.
    bash "$HOSTS" exec --bind "$WORK" -- env -C "$WORK" sh -ec "
        nice meson setup build src --prefix=$DEST/prefix --libdir=lib \
            --buildtype=release -Dinstall-translations=false >build-setup.log 2>&1 \
            || { cat build-setup.log; exit 1; }
        nice ninja -C build -j $JOBS >build.log 2>&1 || { cat build.log; exit 1; }
        DESTDIR=$WORK/stage ninja -C build install >install.log 2>&1 || { cat install.log; exit 1; }
    " >&2 || die "build failed (logs in $WORK)"
    mkdir -p "$DEST"
    mv "$WORK/stage$DEST/prefix" "$DEST/prefix"
    cp "$WORK"/*.log "$DEST/" 2>/dev/null || true
    printf '%s\n' "${COMMIT:-unknown}" > "$DEST/COMMIT"
    rm -rf "$WORK"
    [ -x "$PLUGDIR/resynthesizer/resynthesizer" ] || die "engine not installed in $PLUGDIR"
    [ -f "$PLUGDIR/plug-in-heal-selection/plug-in-heal-selection.scm" ] \
        || die "plug-in-heal-selection not installed in $PLUGDIR"
    gimp_version > "$DEST/.ready"
    log "built $DEST"
fi
ln -sfn "$(basename "$DEST")" "$LINK.tmp" && mv -T "$LINK.tmp" "$LINK"
log "commit: $(cat "$DEST/COMMIT")"
log "plug-ins (copy into \$HOME/.config/GIMP/3.0/plug-ins of a throw-away GIMP profile):"
ls -1 "$PLUGDIR" >&2
printf '%s\n' "$PLUGDIR"
