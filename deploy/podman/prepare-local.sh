#!/usr/bin/env bash
# Make this machine able to build and run deploy/Containerfile with podman
# when no public image registry can be reached (as on CI's machines).
#
# Idempotent; run as root. It:
#   1. installs podman, buildah, podman-compose, runc and debootstrap from
#      Debian's packages when podman is missing;
#   2. writes the podman settings these machines need (runc as the runtime,
#      open-file and process limits) to a containers.conf drop-in;
#   3. builds the base image the Containerfile names, debian:bookworm-slim,
#      with `debootstrap --variant=minbase bookworm` when it is not in
#      podman's storage. This machine's own local CA certificates (those in
#      /usr/local/share/ca-certificates) are added to that base so that pip
#      and apt inside a build trust the same servers as the host does. The
#      root filesystem is kept as a tarball in $BASE_CACHE, so the next run
#      on this machine imports it instead of bootstrapping again.
#
# Nothing here is needed where `podman pull debian:bookworm-slim` (or Docker)
# works: the Containerfile is the same everywhere.
set -euo pipefail

BASE_IMAGE="docker.io/library/debian:bookworm-slim"
BASE_CACHE="${BASE_CACHE:-/var/cache/items-api/bookworm-minbase.tar}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

say() { echo "prepare-local: $*" >&2; }

[[ "$(id -u)" == 0 ]] || { say "run me as root"; exit 1; }

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null \
    || ! command -v podman-compose >/dev/null; then
    say "installing podman, buildah, podman-compose, runc and debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        podman buildah podman-compose runc debootstrap >/dev/null
fi

mkdir -p /etc/containers/containers.conf.d
cat > /etc/containers/containers.conf.d/50-items-api.conf <<'CONF'
# Written by deploy/podman/prepare-local.sh: crun is not usable on these
# machines, and the default limits of open files and processes are too low
# for gunicorn and nginx.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF

if podman image exists "$BASE_IMAGE"; then
    say "$BASE_IMAGE is already in podman's storage"
    exit 0
fi

if [[ ! -s "$BASE_CACHE" ]]; then
    say "bootstrapping Debian bookworm (minbase) from $MIRROR"
    rootfs="$(mktemp -d)"
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$MIRROR" >/dev/null
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    # As in Debian's own slim images: no package lists, no downloaded packages.
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$(dirname "$BASE_CACHE")"
    tar --numeric-owner -C "$rootfs" -cf "$BASE_CACHE.new" .
    mv "$BASE_CACHE.new" "$BASE_CACHE"
fi
say "importing $BASE_CACHE as $BASE_IMAGE"
podman import --change 'CMD ["bash"]' "$BASE_CACHE" "$BASE_IMAGE" >/dev/null
