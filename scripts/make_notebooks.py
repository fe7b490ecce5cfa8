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


if __name__ == "__main__":
    main()
