#!/usr/bin/env bash
# Photographs for `r1track data synth --photos` (benchmarks/nano.md, experiment 13), from package
# registries only: `fetch.sh train OUT` takes Debian's wallpaper packages (photographs of nature,
# cities, objects), `fetch.sh held-out OUT` the sample images shipped inside the scikit-image and
# scikit-learn wheels (no training stage sees them). Files are checked against SET.sha256 beside
# this script, so a data build made from them is the same on every machine.
set -euo pipefail
set_name=${1:?usage: fetch.sh train|held-out OUT}
out=${2:?usage: fetch.sh train|held-out OUT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)  # absolute: the work below happens elsewhere
python=$(command -v "${PYTHON:-python3}") || { echo "fetch.sh: no ${PYTHON:-python3}" >&2; exit 2; }
python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python")
sums="$here/$set_name.sha256"
test -f "$sums" || { echo "fetch.sh: no such set: $set_name" >&2; exit 2; }
work=$(mktemp -d)
chmod a+rwx "$work"  # apt-get download writes as its own user
trap 'rm -rf "$work"' EXIT
cd "$work"
case "$set_name" in
  train)
    apt-get update -qq
    apt-get download -qq lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds \
      ukui-wallpapers
    for deb in *.deb; do dpkg-deb -x "$deb" unpacked; done
    src=unpacked/usr/share/backgrounds
    ;;
  held-out)
    "$python" -m pip download -q --no-deps --dest . scikit-image==0.26.0 scikit-learn==1.9.1
    for whl in *.whl; do "$python" -m zipfile -e "$whl" unpacked; done
    src=unpacked
    ;;
esac
while read -r _ path; do
  mkdir -p "$out/$(dirname "$path")"
  cp "$src/$path" "$out/$path"
done < "$sums"
(cd "$out" && sha256sum --quiet -c "$sums") || { echo "fetch.sh: $set_name files differ" >&2; exit 1; }
echo "fetch.sh: $(wc -l < "$sums") photographs in $out"
