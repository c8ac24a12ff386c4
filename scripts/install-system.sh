#!/usr/bin/env bash
# Install the Debian packages Custos needs, only those whose command is missing.
# As root: apt-get installs them. Otherwise: print exactly what to install, exit 1.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [chromium]=chromium
  [clamscan]=clamav
  [clamd]=clamav-daemon
  [7zz]=7zip
  [exiftool]=libimage-exiftool-perl
  [mediainfo]=mediainfo
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
  [compare]=imagemagick
  [gs]=ghostscript
  [qpdf]=qpdf
  [pngcheck]=pngcheck
  [jpeginfo]=jpeginfo
  [file]=file
  [tesseract]="tesseract-ocr tesseract-ocr-eng"
  [mediaconch]=mediaconch
  [node]=nodejs
  [npm]=npm
  [soffice]="libreoffice-writer-nogui libreoffice-calc-nogui"
)
EXTRA_PACKAGES=(${CUSTOS_EXTRA_APT:-})

missing=()
for cmd in "${!NEED[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    # shellcheck disable=SC2206  # a value may name several packages
    missing+=(${NEED[$cmd]})
  fi
done
missing+=("${EXTRA_PACKAGES[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing system packages. Install them with:" >&2
  echo "  sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
