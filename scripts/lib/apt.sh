# Sourced by the install scripts: `apt_need LABEL PACKAGE...` installs the Debian packages that are
# missing (apt-get update only then), and does nothing when all are there. Needs root to install.
apt_need() {
  local label="$1" pkg
  shift
  local missing=()
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "$label: Debian packages present"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$label: missing ${missing[*]} and not root: run as root or install them first" >&2
    return 1
  fi
  echo "$label: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other install scripts may hold the dpkg lock; wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
}
