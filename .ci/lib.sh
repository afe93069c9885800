# shellcheck shell=bash
# Shared by .ci/test and .ci/bench; source it, do not run it.

# Debian packages the build needs. With --no-install-recommends, make (a
# Recommends of cmake), clang's sanitizer runtimes (libclang-rt-14-dev, a
# Recommends of clang) and llvm-symbolizer (llvm-14, which clang only
# recommends through llvm-14-dev) would otherwise be missing on a fresh
# Debian 12. Without the symbolizer, sanitizer reports have no function names
# and TSan's function-name suppressions (for uninstrumented libraries) do not match:
# a fresh Debian 12 run failed the TSan stage that way. Boost (Asio, Beast)
# and standalone Asio: the asynchronous adapter and the HTTP example; Redis,
# hiredis and librdkafka: the replica sources and their tests.
PACKAGES="cmake make g++ clang libclang-rt-14-dev llvm-14 catch2 libbenchmark-dev python3 pkg-config curl chromium libboost-dev libasio-dev redis-server libhiredis-dev librdkafka-dev"

# Installs whichever of $PACKAGES are not installed yet.
memlog_install_packages() {
  local missing=() pkg
  for pkg in $PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  echo "==> installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "error: missing packages (${missing[*]}) and not root; install them first" >&2
      return 1
    }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Prints a stage header.
memlog_header() {
  printf '\n==================== %s ====================\n' "$*"
}
