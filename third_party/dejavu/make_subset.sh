#!/bin/sh
# Makes DejaVuSans-subset.ttf, the only font resnetc's PNG charts use, from
# DejaVu Sans 2.37 (Debian's fonts-dejavu-core, /usr/share/fonts/truetype/
# dejavu/DejaVuSans.ttf, sha256 abdc775b21b1bc470d50c97e790d276f2054b7504e56e5bd3e64f48d68582322)
# with fontTools' pyftsubset (fonttools 4.x: `python3 -m venv v && v/bin/pip install fonttools`).
# Keeps Basic Latin, Latin-1, general punctuation and the few symbols the
# charts write (∂, −, ≤, ≥); drops hinting (the charts are antialiased).
# Usage: ./make_subset.sh [path/to/DejaVuSans.ttf]   (run in this directory)
set -eu
src=${1:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
pyftsubset "$src" \
    --unicodes='U+0020-007E,U+00A0-00FF,U+2010-2027,U+2030-203A,U+2202,U+2212,U+2264-2265' \
    --layout-features='kern,liga' \
    --no-hinting \
    --output-file=DejaVuSans-subset.ttf
