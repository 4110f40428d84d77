#!/usr/bin/env bash
# Installs what the graph picture and man page tests need, from Debian's
# packages: Graphviz `dot` (tests/suite/graph.rs renders every example's DOT) and
# groff (tests/suite/shell.rs renders the man page). Idempotent and quiet:
# a no-op when both are present.
set -euo pipefail

# Debian 12's releases; the version glob tolerates Debian's security rebuilds.
GRAPHVIZ_VERSION='2.42.2-7*'
GROFF_VERSION='1.22.4-*'

need=()
command -v dot >/dev/null 2>&1 || need+=("graphviz=${GRAPHVIZ_VERSION}")
dpkg -s groff >/dev/null 2>&1 || need+=("groff=${GROFF_VERSION}")
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-graphviz: need root to install ${need[*]} (apt-get install graphviz groff)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)
apt-get "${apt_opts[@]}" update >/dev/null
# debconf's "delaying package configuration" notice is noise; real errors still show.
apt-get "${apt_opts[@]}" install --no-install-recommends "${need[@]}" >/dev/null \
  2> >(grep -v '^debconf: ' >&2)
dot -V
