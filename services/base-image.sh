#!/usr/bin/env bash
# A Debian bookworm base with Python 3.11 from Debian's packages only, for machines that can pull
# no image: debootstrap, then `podman import`. The tag is a hash of every input (this script, the
# mirror, the host's CA bundle), so a second run with the same inputs builds nothing.
# Prints the image name. Usage: services/base-image.sh [podman global flags...]
set -euo pipefail

SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
NAME=localhost/mlstack-base
PODMAN=(podman "$@")

# The Debian mirror apt already uses (deb822 or one-line sources), never a hard-coded host.
mirror() {
  local uri
  uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" && $3 == "'"$SUITE"'" {print $2; exit}' /etc/apt/sources.list \
      2>/dev/null || true)
  fi
  [ -n "$uri" ] || { echo "base-image: no Debian mirror in apt's sources" >&2; exit 1; }
  echo "$uri"
}

MIRROR=$(mirror)
CA=/etc/ssl/certs/ca-certificates.crt
tag=$({ cat "$0"; echo "$SUITE $PACKAGES $MIRROR"; cat "$CA" 2>/dev/null || true; } \
  | sha256sum | cut -c1-12)
image="$NAME:$tag"
if "${PODMAN[@]}" image exists "$image"; then
  echo "$image"
  exit 0
fi

root=$(mktemp -d /var/tmp/mlstack-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base-image: debootstrap $SUITE from $MIRROR (about a minute)" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >/dev/null
# Builds behind a TLS-intercepting proxy need the host's trust store (pip and uv read it).
[ -f "$CA" ] && cp "$CA" "$root/etc/ssl/certs/ca-certificates.crt"
# What an image does not need: apt's downloaded packages and lists, docs and man pages.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | "${PODMAN[@]}" import --quiet \
  --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "$image"
