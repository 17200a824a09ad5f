#!/usr/bin/env bash
# Real GIMP 3 and Krita 5 host environment for photomend's host tests.
#
#   bash .ci/hosts.sh provision   build (or reuse) the environment; prints its root last
#   bash .ci/hosts.sh root        print the root ("/" on native Debian 13); exit 1 if absent
#   bash .ci/hosts.sh exec [--bind DIR]... -- CMD ARGS...
#                                 run CMD inside the environment, exit code propagated
#   bash .ci/hosts.sh umount      unmount everything exec mounted under the root
#
# On Debian 13 ("trixie") the packages are installed natively. Elsewhere a
# trixie chroot is built with debootstrap and cached OUTSIDE the repository at
#   ${PHOTOMEND_HOSTS_CACHE:-/var/cache/photomend-hosts}/trixie-<key>
# where <key> hashes the package list and HOSTS_SCRIPT_VERSION, so changing
# either builds a fresh root. The Debian mirror is read from the machine's own
# apt sources at run time. See docs/hosts-env.md.
set -euo pipefail

HOSTS_SCRIPT_VERSION="1"
SUITE="trixie"
PACKAGES=(
    gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4 gir1.2-babl-0.1
    python3-numpy python3-scipy python3-pil python3-pyqt5
    krita xvfb xauth xfonts-base dbus-x11
)
CACHE="$(realpath -m "${PHOTOMEND_HOSTS_CACHE:-/var/cache/photomend-hosts}")"
CHROOT_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

log() { printf '[hosts] %s\n' "$*" >&2; }
die() { printf '[hosts] error: %s\n' "$*" >&2; exit 2; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

is_native() {
    local codename=""
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
    fi
    [ "$codename" = "$SUITE" ]
}

cache_key() {
    printf '%s\n' "v=$HOSTS_SCRIPT_VERSION" "suite=$SUITE" "${PACKAGES[@]}" \
        | sha256sum | cut -c1-12
}

chroot_root() { printf '%s/%s-%s' "$CACHE" "$SUITE" "$(cache_key)"; }

# Mount points at or below $1, in mount order (decodes \040-style escapes).
mounts_under() {
    local base="${1%/}" mp
    while read -r _ _ _ _ mp _; do
        mp="$(printf '%b' "$mp")"
        if [ "$mp" = "$base" ] || [ "${mp#"$base"/}" != "$mp" ]; then
            printf '%s\n' "$mp"
        fi
    done < /proc/self/mountinfo
}

umount_under() {
    local mp
    mounts_under "$1" | tac | while IFS= read -r mp; do
        [ -n "$mp" ] || continue
        umount "$mp" 2>/dev/null || umount -l "$mp" || log "could not unmount $mp"
    done
}

# Remove a (possibly half-built) root; never descend into a live mount.
safe_rm() {
    local dir="$1"
    [ -e "$dir" ] || return 0
    umount_under "$dir"
    if [ -n "$(mounts_under "$dir")" ]; then
        die "refusing to delete $dir: still has mounts"
    fi
    rm -rf --one-file-system "$dir"
}

mount_bind() {  # mount_bind SRC DEST
    mkdir -p "$2"
    mountpoint -q "$2" || mount --bind "$1" "$2"
}

mount_basics() {  # mount_basics ROOT
    local r="$1"
    mkdir -p "$r/proc" "$r/sys" "$r/dev"
    mountpoint -q "$r/proc" || mount -t proc proc "$r/proc"
    mountpoint -q "$r/sys" || mount --bind /sys "$r/sys"
    mountpoint -q "$r/dev" || mount --bind /dev "$r/dev"
    mount_bind /dev/shm "$r/dev/shm"
}

copy_resolv() {  # copy_resolv ROOT (atomic, so concurrent calls are safe)
    local r="$1" tmp
    [ -r /etc/resolv.conf ] || return 0
    tmp="$r/etc/.resolv.conf.$$"
    if cp -L /etc/resolv.conf "$tmp"; then mv -f "$tmp" "$r/etc/resolv.conf"; else rm -f "$tmp"; fi
}

# The Debian mirror this machine uses: the URI of the apt source whose suite is
# the machine's own codename (not -security/-updates), read at run time.
debian_mirror() {
    local codename f uri=""
    # shellcheck disable=SC1091
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri="$(awk -v cn="$codename" '
            function flush() { if (!done && uris != "" && hit && !enabled_no) { split(uris, u, " "); print u[1]; done = 1; exit } uris = ""; hit = 0; enabled_no = 0 }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]*#/ { next }
            tolower($1) == "uris:" { uris = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == cn) hit = 1 }
            tolower($1) == "enabled:" && tolower($2) == "no" { enabled_no = 1 }
            END { flush() }' "$f")"
        [ -n "$uri" ] && { printf '%s\n' "$uri"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri="$(awk -v cn="$codename" '
            $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == cn) { print $i; exit } }' "$f")"
        [ -n "$uri" ] && { printf '%s\n' "$uri"; return 0; }
    done
    return 1
}

host_apt_install() {  # apt-get install on the machine itself; update only if needed
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing on this machine: ${missing[*]}"
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 \
        || ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
}

provision_native() {
    host_apt_install "${PACKAGES[@]}"
    command -v gimp-console-3.0 >/dev/null || die "gimp-console-3.0 missing after install"
    command -v krita >/dev/null || die "krita missing after install"
    printf '/\n'
}

build_cleanup() {  # trap handler during a build
    local dir="${BUILD_DIR:-}"
    if [ -n "$dir" ] && [ -e "$dir" ]; then
        log "build interrupted, removing $dir"
        safe_rm "$dir"
    fi
}

provision_chroot() {
    local root key mirror start old
    root="$(chroot_root)"
    key="$(cache_key)"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    if [ -d "$root" ] && [ -f "$root/.photomend-hosts-ready" ]; then
        log "cached: $root"
        printf '%s\n' "$root"
        return 0
    fi
    start=$SECONDS
    # Leftovers of killed builds (we hold the lock, so none is running).
    for old in "$CACHE"/.build-*; do
        [ -e "$old" ] || continue
        log "removing stale build $old"
        safe_rm "$old"
    done
    host_apt_install debootstrap
    mirror="$(debian_mirror)" || die "no Debian mirror found in /etc/apt sources"
    BUILD_DIR="$CACHE/.build-$SUITE-$key-$$"
    trap build_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    log "debootstrap $SUITE from $mirror into $BUILD_DIR"
    debootstrap --variant=minbase "$SUITE" "$BUILD_DIR" "$mirror" >&2
    # No daemons may start inside the chroot during package installation.
    printf '#!/bin/sh\nexit 101\n' > "$BUILD_DIR/usr/sbin/policy-rc.d"
    chmod 755 "$BUILD_DIR/usr/sbin/policy-rc.d"
    mount_basics "$BUILD_DIR"
    copy_resolv "$BUILD_DIR"
    log "installing ${#PACKAGES[@]} packages inside ($((SECONDS - start)) s so far)"
    chroot "$BUILD_DIR" env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive sh -c '
            set -e
            apt-get update
            apt-get install -y --no-install-recommends "$@"
            apt-get clean
            rm -rf /var/lib/apt/lists/*
            command -v gimp-console-3.0 >/dev/null
            command -v krita >/dev/null
            command -v kritarunner >/dev/null
            command -v xvfb-run >/dev/null
        ' sh "${PACKAGES[@]}" >&2
    rm -f "$BUILD_DIR/usr/sbin/policy-rc.d"
    umount_under "$BUILD_DIR"
    [ -z "$(mounts_under "$BUILD_DIR")" ] || die "mounts left under $BUILD_DIR"
    printf 'suite=%s key=%s version=%s\n' "$SUITE" "$key" "$HOSTS_SCRIPT_VERSION" \
        > "$BUILD_DIR/.photomend-hosts-ready"
    printf '%s\n' "${PACKAGES[@]}" >> "$BUILD_DIR/.photomend-hosts-ready"
    safe_rm "$root"   # a root without the ready marker is not trusted
    mv -T "$BUILD_DIR" "$root"
    BUILD_DIR=""
    trap - EXIT INT TERM HUP
    # Roots of other keys are obsolete; drop those not in use (no mounts).
    for old in "$CACHE/$SUITE"-*; do
        if [ -d "$old" ] && [ "$old" != "$root" ] && [ -z "$(mounts_under "$old")" ]; then
            log "removing obsolete root $old"
            rm -rf --one-file-system "$old"
        fi
    done
    log "provisioned in $((SECONDS - start)) s, $(du -sh --one-file-system "$root" | cut -f1)"
    printf '%s\n' "$root"
}

cmd_provision() {
    need_root
    if is_native; then provision_native; else provision_chroot; fi
}

cmd_root() {
    if is_native; then printf '/\n'; return 0; fi
    local root
    root="$(chroot_root)"
    if [ -f "$root/.photomend-hosts-ready" ]; then
        printf '%s\n' "$root"
    else
        printf '\n'
        return 1
    fi
}

cmd_exec() {
    local binds=() d
    while [ $# -gt 0 ]; do
        case "$1" in
            --bind) [ $# -ge 2 ] || die "--bind needs a directory"; binds+=("$2"); shift 2 ;;
            --bind=*) binds+=("${1#--bind=}"); shift ;;
            --) shift; break ;;
            *) break ;;
        esac
    done
    [ $# -gt 0 ] || die "usage: hosts.sh exec [--bind DIR]... -- CMD ARGS..."
    if is_native; then exec "$@"; fi
    need_root
    local root
    root="$(chroot_root)"
    [ -f "$root/.photomend-hosts-ready" ] || die "not provisioned: run 'bash .ci/hosts.sh provision'"
    mkdir -p "$CACHE"
    {
        flock 8
        mount_basics "$root"
        # Canonical host paths, parents before children (sorted), so a
        # later bind never hides an earlier one.
        local canon=()
        for d in "${binds[@]}"; do
            mkdir -p "$d"
            d="$(realpath "$d")"
            [ "$d" != / ] || die "cannot bind /"
            canon+=("$d")
        done
        if [ "${#canon[@]}" -gt 0 ]; then
            while IFS= read -r d; do
                # Refuse paths that a symlink inside the root would send elsewhere.
                [ "$(realpath -m "$root$d")" = "$root$d" ] \
                    || die "--bind $d: $root$d resolves outside the root"
                mount_bind "$d" "$root$d"
            done < <(printf '%s\n' "${canon[@]}" | sort -u)
        fi
        copy_resolv "$root"
    } 8>"$CACHE/.mount.lock"
    local envs=(HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8) name
    while IFS= read -r name; do
        case "$name" in
            PHOTOMEND_*|QT_QPA_PLATFORM|DISPLAY|XDG_RUNTIME_DIR) envs+=("$name=${!name}") ;;
        esac
    done < <(compgen -e)
    exec chroot "$root" env -i "${envs[@]}" "$@"
}

cmd_umount() {
    is_native && return 0
    need_root
    local root
    root="$(chroot_root)"
    [ -d "$root" ] || return 0
    umount_under "$root"
    local left
    left="$(mounts_under "$root")"
    [ -z "$left" ] || { log "still mounted: $left"; return 1; }
}

case "${1:-}" in
    provision) shift; cmd_provision "$@" ;;
    root) shift; cmd_root "$@" ;;
    exec) shift; cmd_exec "$@" ;;
    umount) shift; cmd_umount "$@" ;;
    *) printf 'usage: %s provision|root|exec [--bind DIR]... -- CMD...|umount\n' "$0" >&2; exit 2 ;;
esac
