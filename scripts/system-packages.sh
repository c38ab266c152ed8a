# Debian packages voxgate's build and tests need, installed only when missing. Sourced by
# scripts/demo and scripts/test.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_ready=""
need_deb() { # need_deb CHECK PACKAGE: CHECK is a command, or pkg:NAME for a pkg-config library
  local check=$1 package=$2
  case "$check" in
    pkg:*) pkg-config --exists "${check#pkg:}" 2>/dev/null && return 0 ;;
    *) command -v "$check" >/dev/null 2>&1 && return 0 ;;
  esac
  if [ -z "$apt_ready" ]; then as_root apt-get update -qq; apt_ready=1; fi
  echo "== installing $package (Debian)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}
# What building voxgate needs: libopus (Opus for talking agents) found through pkg-config.
need_build_packages() {
  need_deb pkg-config pkg-config
  need_deb pkg:opus libopus-dev
}
