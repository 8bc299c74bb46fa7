# Shared by scripts/build-image, scripts/test-image and scripts/test-kube (sourced, not run):
# the image name and version, and podman/buildah as they work on a machine without a Docker
# engine or registry: storage driver vfs (no overlay mounts needed), runtime runc.
# shellcheck shell=bash

# The version of meson.build's project(): the image tag.
mtlb_version() {
    sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" "$1/meson.build" | head -n 1
}

MTLB_IMAGE_STORAGE=${MTLB_IMAGE_STORAGE:-vfs}

pm() { podman --storage-driver "$MTLB_IMAGE_STORAGE" --runtime runc "$@"; }
bh() { buildah --storage-driver "$MTLB_IMAGE_STORAGE" "$@"; }

# need_root NAME: podman, buildah and debootstrap run rootful here.
need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$1: needs root (rootful podman/buildah, debootstrap)" >&2
        exit 2
    fi
}

# need_tools NAME ROOT TOOL...: installs the project's dependencies when one is missing.
need_tools() {
    local name=$1 root=$2 t
    shift 2
    for t in "$@"; do
        if ! command -v "$t" >/dev/null; then
            echo "$name: $t missing: running scripts/install-deps"
            "$root/scripts/install-deps"
            return
        fi
    done
}
