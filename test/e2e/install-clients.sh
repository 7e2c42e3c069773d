#!/usr/bin/env bash
# Installs the real package-manager clients the format tests drive, from Debian's packages,
# skipping what is already present. Run as root (CI is). Safe to run twice.
set -euo pipefail

need=()
want() { # want <command> <debian-package>
  command -v "$1" >/dev/null 2>&1 || need+=("$2")
}
want twine twine
want pip python3-pip
# pip builds the test sdist offline (--no-build-isolation) with Debian's python3, which needs these:
/usr/bin/python3 -c 'import setuptools, wheel' >/dev/null 2>&1 || need+=(python3-setuptools python3-wheel)
# the pypi copy-paste block of docs/formats/pypi.md builds with `python3 -m pip` and installs into a venv
/usr/bin/python3 -c 'import pip, ensurepip' >/dev/null 2>&1 || need+=(python3-pip python3-venv)
want go golang-go
want openssl openssl
want skopeo skopeo
want mvn maven
want curl curl
# test/deploy validates docker-compose.mesh.yml with `docker-compose config` (no engine needed)
want docker-compose docker-compose

if [ "${#need[@]}" -gt 0 ]; then
  echo "install-clients: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "install-clients: every client is present"
fi
