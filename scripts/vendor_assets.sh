#!/usr/bin/env bash
# Rebuild gridmap/static/vendor/ from pinned npm packages: every JS/CSS file (and the images and
# fonts their CSS references) that the folium maps and the API docs pages (/docs Swagger UI,
# /redoc ReDoc) load, so maps and docs work on isolated networks.
#
#   scripts/vendor_assets.sh           re-vendor into gridmap/static/vendor (needs npm + network)
#
# Only the dist files the maps use are copied, byte for byte, with each package's licence.
# Two files are not on npm and are derived here: the glyphicons-only stylesheet (folium loads
# bootstrap 3.0's bootstrap-glyphicons.css; we cut the same rules out of bootstrap@3.4.1) and
# folium's own leaflet.awesome.rotate.css (the .fa-rotate-0 … .fa-rotate-359 classes).
# One vendored file is edited: ReDoc 2's bundle draws its footer logo from cdn.redoc.ly whatever
# the options; the script points that <img> at an empty inline SVG (below) so /redoc asks
# nothing of the internet.
# VERSIONS.txt records package, version and tarball integrity; bump a pin here, re-run, and
# check `pytest tests/test_maps.py tests/api/test_maps.py tests/api/test_docs.py` (the offline
# browser tests included).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/gridmap/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PACKAGES=(
  leaflet@1.9.4
  leaflet.markercluster@1.5.3
  leaflet.heat@0.2.0
  leaflet.vectorgrid@1.3.0
  jquery@3.7.1
  bootstrap@5.2.2
  bootstrap@3.4.1
  @fortawesome/fontawesome-free@6.2.0
  leaflet.awesome-markers@2.0.5
  d3@3.5.5
  swagger-ui-dist@5.35.0
  redoc@2.5.4
)

unpack() {  # unpack NAME@VERSION into $WORK/NAME@VERSION/package, record its integrity
  local spec="$1" dir="$WORK/$1" tarball integrity
  mkdir -p "$dir"
  tarball="$(cd "$dir" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
  integrity="$(npm view "$spec" dist.integrity 2>/dev/null)"
  tar xzf "$dir/$tarball" -C "$dir"
  printf '%s\t%s\n' "$spec" "$integrity" >> "$WORK/VERSIONS.txt"
}

pkg() { echo "$WORK/$1/package"; }

put() {  # put SOURCE DEST-RELATIVE-TO-OUT
  mkdir -p "$(dirname "$OUT/$2")"
  cp "$1" "$OUT/$2"
}

for spec in "${PACKAGES[@]}"; do unpack "$spec"; done
rm -rf "$OUT"
mkdir -p "$OUT"

p="$(pkg leaflet@1.9.4)"
put "$p/dist/leaflet.js" leaflet/leaflet.js
put "$p/dist/leaflet.css" leaflet/leaflet.css
for image in layers.png layers-2x.png marker-icon.png marker-icon-2x.png marker-shadow.png; do
  put "$p/dist/images/$image" "leaflet/images/$image"
done
put "$p/LICENSE" leaflet/LICENSE

p="$(pkg leaflet.markercluster@1.5.3)"
for file in leaflet.markercluster.js MarkerCluster.css MarkerCluster.Default.css; do
  put "$p/dist/$file" "markercluster/$file"
done
put "$p/MIT-LICENCE.txt" markercluster/LICENSE

p="$(pkg leaflet.heat@0.2.0)"
put "$p/dist/leaflet-heat.js" leaflet-heat/leaflet-heat.js
put "$p/LICENSE" leaflet-heat/LICENSE

p="$(pkg leaflet.vectorgrid@1.3.0)"
put "$p/dist/Leaflet.VectorGrid.bundled.min.js" vectorgrid/Leaflet.VectorGrid.bundled.min.js
# No licence file in the tarball; package.json says "Beerware" (Leaflet.VectorGrid README).
printf 'Leaflet.VectorGrid %s, licence: %s (package.json)\n' 1.3.0 Beerware > "$OUT/vectorgrid/LICENSE"

p="$(pkg jquery@3.7.1)"
put "$p/dist/jquery.min.js" jquery/jquery.min.js
put "$p/LICENSE.txt" jquery/LICENSE

p="$(pkg bootstrap@5.2.2)"
put "$p/dist/js/bootstrap.bundle.min.js" bootstrap/js/bootstrap.bundle.min.js
put "$p/dist/css/bootstrap.min.css" bootstrap/css/bootstrap.min.css
put "$p/LICENSE" bootstrap/LICENSE

p="$(pkg bootstrap@3.4.1)"
mkdir -p "$OUT/glyphicons/css"
# The @font-face and .glyphicon* rules only: from the font face to the next global rule.
sed -n '/^@font-face/,/^\* {/p' "$p/dist/css/bootstrap.css" | sed '$d' \
  > "$OUT/glyphicons/css/bootstrap-glyphicons.css"
for font in eot svg ttf woff woff2; do
  put "$p/dist/fonts/glyphicons-halflings-regular.$font" "glyphicons/fonts/glyphicons-halflings-regular.$font"
done
put "$p/LICENSE" glyphicons/LICENSE

p="$(pkg @fortawesome/fontawesome-free@6.2.0)"
put "$p/css/all.min.css" fontawesome/css/all.min.css
for font in "$p"/webfonts/*; do put "$font" "fontawesome/webfonts/$(basename "$font")"; done
put "$p/LICENSE.txt" fontawesome/LICENSE

p="$(pkg leaflet.awesome-markers@2.0.5)"
put "$p/dist/leaflet.awesome-markers.js" awesome-markers/leaflet.awesome-markers.js
put "$p/dist/leaflet.awesome-markers.css" awesome-markers/leaflet.awesome-markers.css
for image in markers-soft.png markers-soft@2x.png markers-shadow.png markers-shadow@2x.png; do
  put "$p/dist/images/$image" "awesome-markers/images/$image"
done
put "$p/LICENSE" awesome-markers/LICENSE
# folium's leaflet.awesome.rotate.css (not on npm): one rotation class per degree.
for degrees in $(seq 0 359); do
  printf '.fa-rotate-%d{-ms-transform:rotate(%ddeg);-webkit-transform:rotate(%ddeg);transform:rotate(%ddeg);}\n' \
    "$degrees" "$degrees" "$degrees" "$degrees"
done > "$OUT/awesome-markers/leaflet.awesome.rotate.min.css"

p="$(pkg d3@3.5.5)"
put "$p/d3.min.js" d3/d3.min.js
put "$p/LICENSE" d3/LICENSE

# API docs. Swagger UI 5 is the first major version that reads OpenAPI 3.1 (FastAPI's schema);
# ReDoc 2 reads 3.1 and keeps the <redoc spec-url> element FastAPI's get_redoc_html writes.
p="$(pkg swagger-ui-dist@5.35.0)"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png; do
  put "$p/$file" "swagger-ui/$file"
done
put "$p/LICENSE" swagger-ui/LICENSE
put "$p/NOTICE" swagger-ui/NOTICE

p="$(pkg redoc@2.5.4)"
put "$p/bundles/redoc.standalone.js" redoc/redoc.standalone.js
put "$p/bundles/redoc.standalone.js.LICENSE.txt" redoc/redoc.standalone.js.LICENSE.txt
logo="https://cdn.redoc.ly/redoc/logo-mini.svg"
grep -qF "$logo" "$OUT/redoc/redoc.standalone.js" || { echo "ReDoc no longer loads $logo: recheck" >&2; exit 1; }
sed -i "s#$logo#data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E#" "$OUT/redoc/redoc.standalone.js"
put "$p/LICENSE" redoc/LICENSE

{
  echo "# npm packages vendored by scripts/vendor_assets.sh (package, tarball integrity)"
  cat "$WORK/VERSIONS.txt"
} > "$OUT/VERSIONS.txt"
du -sh "$OUT"
