#!/usr/bin/env bash
# Install the system programs the tests and the sandbox use, when they are missing.
# As root it installs them with apt; otherwise it prints the one command to run and fails.
set -euo pipefail
need=()
command -v docker-registry >/dev/null || command -v registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v curl >/dev/null || need+=(curl)
command -v zstd >/dev/null || need+=(zstd)  # benchmarks case 7: curl | zstd -dc | tar, the zstd:chunked comparator
command -v openssl >/dev/null || need+=(openssl)
command -v setpriv >/dev/null || need+=(util-linux)
# Real image producers for tests/helpers/producer_fixtures.py (issue 23): buildah, podman and skopeo
# (vfs/overlay storage as root, no fuse-overlayfs or rootless uidmap needed), umoci, containerd with ctr,
# and stargz-snapshotter's ctr-remote. `unshare` (util-linux) and `mount` give each tool a private
# /var/lib, /run and /etc; GNU tar is the reference the harness tests compare umoci's layers with.
command -v unshare >/dev/null || need+=(util-linux)
command -v mount >/dev/null || need+=(mount)
command -v tar >/dev/null || need+=(tar)
command -v buildah >/dev/null || need+=(buildah)
command -v podman >/dev/null || need+=(podman)
command -v umoci >/dev/null || need+=(umoci)
{ command -v containerd >/dev/null && command -v ctr >/dev/null; } || need+=(containerd)
command -v ctr-remote >/dev/null || need+=(stargz-snapshotter)
# Package databases written by the real package managers (tests/helpers/packagedbs.py, issue 25):
# mmdebstrap builds a Debian root, rpm/rpmbuild write rpmdb.sqlite, gpg makes the key rpm --imports, npm installs.
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v rpmbuild >/dev/null || need+=(rpm)
command -v gpg >/dev/null || need+=(gpg)
command -v gpgconf >/dev/null || need+=(gpgconf)
command -v npm >/dev/null || need+=(npm)
# The browser test drives Debian's chromium; fonts so Lab's text renders in screenshots.
if [ "${RX_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null || need+=(chromium fonts-liberation)
fi
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Missing system packages. Run:  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
# docker-registry's postinst would start a system-wide registry on :5000 (containerd's a system daemon);
# forbid service starts.
if [ ! -x /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends ca-certificates "${need[@]}"
