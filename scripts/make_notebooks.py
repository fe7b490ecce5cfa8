"""Write the notebooks from their cell sources (kept here so diffs stay readable)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "notebooks"

QUICKSTART = [
    new_markdown_cell(
        "# 01 快速上手 Quickstart\n\n"
        "Import the bundled 凉山州 county boundaries (Amap, GCJ-02 → WGS84), run topology QA "
        "and draw them with folium. Uses the private PostGIS cluster (`gridmap db up`) unless "
        "`DATABASE_URL` is set."
    ),
    new_code_cell(
        "from pathlib import Path\n\n"
        "import numpy as np\nimport pandas as pd\nimport shapely\nimport folium\n\n"
        "from gridmap import db, hierarchy, qa\nfrom gridmap.db import migrations\n"
        "from gridmap.settings import Settings\n\n"
        "settings = Settings()\n"
        "url = settings.database_url or db.cluster.up(\n"
        "    db.cluster.locate(settings.home, settings.pg_port, settings.pg_bin))\n"
        "migrations.upgrade(url)\n"
        "engine = db.session.make_engine(url)\n"
        "Session = db.session.sessionmaker_for(engine)\n"
        "BOUNDARIES = Path('..') / 'boundaries'"
    ),
    new_markdown_cell("## 导入 Import: one command, one generation"),
    new_code_cell(
        "files = sorted(BOUNDARIES.glob('5134*.geojson'))\n"
        "with Session() as session, session.begin():\n"
        "    report = hierarchy.import_files(session, files, level='county', crs_name='gcj02')\n"
        "print(report.features, 'features:', report.inserted, 'new,',\n"
        "      report.unchanged, 'unchanged')\n"
        "with Session() as session:\n"
        "    counties = db.units.read(session, level='county', codes=[f.stem for f in files])\n"
        "assert len(counties) == 17\n"
        "counties[['code', 'name', 'kind', 'generation_low']]"
    ),
    new_markdown_cell(
        "## 拓扑检查 Topology QA\n\n"
        "Amap's county polygons share their vertices exactly, so 西昌市 has no gap or overlap "
        "with its neighbours. Files simplified one county at a time do not: the second check "
        "shows the slivers QA reports then (in memory only)."
    ),
    new_code_cell(
        "with Session() as session:\n"
        "    clean = qa.check_county(session, '513401')\n"
        "print(clean.counts)\n"
        "assert clean.counts['gap'] == 0 and clean.counts['overlap'] == 0\n\n"
        "simplified = counties.copy()\n"
        "simplified['geometry'] = shapely.simplify(np.asarray(counties.geometry.values), 0.003)\n"
        "xichang = simplified.set_index('code').geometry['513401']\n"
        "others = simplified[simplified['code'] != '513401']\n"
        "slivers = qa.sibling_overlaps(simplified, level='county') + qa.gaps_between(\n"
        "    xichang, others, level='county', code='513401')\n"
        "table = pd.DataFrame([{'check': f.check_zh, 'codes': ' / '.join(f.codes),\n"
        "                       'area_m2': round(f.area_m2), 'lon': f.lon, 'lat': f.lat}\n"
        "                      for f in slivers])\n"
        "assert (table['area_m2'] > 0).all() and len(table) > 0\n"
        "table.sort_values('area_m2', ascending=False).head(10)"
    ),
    new_markdown_cell("## 地图 Map"),
    new_code_cell(
        "m = folium.Map(location=[27.9, 102.3], zoom_start=7, tiles=None)\n"
        "folium.GeoJson(\n"
        "    counties[['code', 'name', 'geometry']].to_json(ensure_ascii=False),\n"
        "    name='县级 counties',\n"
        "    tooltip=folium.GeoJsonTooltip(fields=['name', 'code'], aliases=['名称', '编码']),\n"
        "    style_function=lambda f: {'color': '#c0392b', 'weight': 1, 'fillOpacity': 0.1},\n"
        ").add_to(m)\n"
        "folium.LayerControl().add_to(m)\n"
        "html = m.get_root().render()\n"
        "assert '513401' in html  # every county is in the page\n"
        "m"
    ),
]


GRIDS_LOOKUP = [
    new_markdown_cell(
        "# 02 网格与定位 Grids and lookup\n\n"
        "Fill 德昌县 (513424) with a synthetic hierarchy (labelled synthetic), draw uniform grids "
        "inside every village and community (社区 300–500 户, 村 100–300 户), check them, map "
        "them, and look points up through the exact H3 index."
    ),
    new_code_cell(
        "from pathlib import Path\n\n"
        "import folium\nimport numpy as np\nimport pandas as pd\nimport branca.colormap as cm\n\n"
        "from gridmap import db, grids, hierarchy, lookup, qa, synth\n"
        "from gridmap.db import migrations\nfrom gridmap.settings import Settings\n\n"
        "settings = Settings()\n"
        "url = settings.database_url or db.cluster.up(\n"
        "    db.cluster.locate(settings.home, settings.pg_port, settings.pg_bin))\n"
        "migrations.upgrade(url)\n"
        "Session = db.session.sessionmaker_for(db.session.make_engine(url))\n"
        "COUNTY = '513424'\n"
        "files = sorted((Path('..') / 'boundaries').glob('5134*.geojson'))\n"
        "with Session() as session, session.begin():\n"
        "    hierarchy.import_files(session, files, level='county', crs_name='gcj02')\n"
        "    if not synth.is_loaded(session, COUNTY, seed=1):\n"
        "        print(synth.load_county(session, COUNTY, seed=1))\n"
        "        report = grids.generate_for_county(session, COUNTY)\n"
        "        print({k: report[k] for k in ('grids', 'seconds', 'max_spread', 'grids_out_of_bounds')})\n"
        "        lookup.rebuild_index(session, COUNTY)"
    ),
    new_markdown_cell("## 检查 Checks: every village tiled exactly, counts within bounds"),
    new_code_cell(
        "with Session() as session:\n"
        "    villages = db.units.read(session, county=COUNTY, level='village')\n"
        "    layer = db.units.read(session, county=COUNTY, level='grid')\n"
        "    report = qa.check_county(session, COUNTY)\n"
        "print(report.counts)\n"
        "assert not report.findings\n"
        "per_village = layer.groupby('parent_code')['households'].agg(['count', 'min', 'max'])\n"
        "per_village['spread'] = per_village['max'] / per_village['min']\n"
        "multi = per_village[per_village['count'] > 1]\n"
        "assert (multi['spread'] <= 1.5).all()\n"
        "per_village.describe().round(2)"
    ),
    new_markdown_cell("## 地图 Map: one township's grids, coloured by households"),
    new_code_cell(
        "township = villages['parent_code'].value_counts().index[0]\n"
        "shown = layer[layer['parent_code'].str.startswith(township)]\n"
        "colours = cm.LinearColormap(['#fff5eb', '#fd8d3c', '#7f2704'],\n"
        "    vmin=shown['households'].min(), vmax=shown['households'].max(), caption='户数 households')\n"
        "centre = shown.union_all().centroid\n"
        "m = folium.Map(location=[centre.y, centre.x], zoom_start=12, tiles=None)\n"
        "folium.GeoJson(\n"
        "    shown[['code', 'name', 'households', 'geometry']].to_json(),\n"
        "    name='网格 grids',\n"
        "    style_function=lambda f: {'fillColor': colours(f['properties']['households']),\n"
        "                              'color': '#333', 'weight': 0.5, 'fillOpacity': 0.7},\n"
        "    tooltip=folium.GeoJsonTooltip(['name', 'code', 'households'], aliases=['网格', '编码', '户数']),\n"
        ").add_to(m)\n"
        "colours.add_to(m)\nfolium.LayerControl().add_to(m)\n"
        "assert shown['code'].iloc[0] in m.get_root().render()\n"
        "m"
    ),
    new_markdown_cell("## 定位 Lookup: equal to shapely's covers on every point"),
    new_code_cell(
        "with Session() as session:\n"
        "    index = lookup.load_index(session)\n"
        "minx, miny, maxx, maxy = villages.total_bounds\n"
        "rng = np.random.default_rng(0)\n"
        "lon, lat = rng.uniform(minx, maxx, 100_000), rng.uniform(miny, maxy, 100_000)\n"
        "found = lookup.locate_points(index, lon, lat)\n"
        "codes = layer.sort_values('code')\n"
        "expected = lookup.reference_locate(codes['code'], codes.geometry.values, lon, lat)\n"
        "expected = np.where(expected >= 0, codes['code'].to_numpy()[np.maximum(expected, 0)], None)\n"
        "covered = expected != None\n"
        "assert (found.grid[covered] == expected[covered]).all()\n"
        "one = lookup.locate_one(index, float(lon[covered][0]), float(lat[covered][0]))\n"
        "print(one)\n"
        "pd.Series({'points': len(lon), 'in grids': int(covered.sum()),\n"
        "           'near a boundary': int(found.near_boundary.sum())})"
    ),
]


def main() -> None:
    """Write every notebook."""
    HERE.mkdir(exist_ok=True)
    notebook = new_notebook(cells=QUICKSTART)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, HERE / "01_quickstart.ipynb")
    notebook = new_notebook(cells=GRIDS_LOOKUP)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, HERE / "02_grids_lookup.ipynb")


if __name__ == "__main__":
    main()
