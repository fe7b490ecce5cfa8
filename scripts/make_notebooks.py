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
        "import numpy as np\nimport pandas as pd\nimport shapely\nimport folium\n\n"
        "from gridmap import db, hierarchy, qa\nfrom gridmap.db import migrations\n"
        "from gridmap.settings import Settings\n\n"
        "settings = Settings()\n"
        "url = db.cluster.database_url(settings, start=True)\n"
        "migrations.upgrade(url)\n"
        "engine = db.session.make_engine(url)\n"
        "Session = db.session.sessionmaker_for(engine)\n"
        "BOUNDARIES = hierarchy.bundled_boundaries()"
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
        "import folium\nimport numpy as np\nimport pandas as pd\nimport branca.colormap as cm\n\n"
        "from gridmap import db, demo, grids, hierarchy, lookup, qa\n"
        "from gridmap.db import migrations\nfrom gridmap.settings import Settings\n\n"
        "settings = Settings()\n"
        "url = db.cluster.database_url(settings, start=True)\n"
        "migrations.upgrade(url)\n"
        "Session = db.session.sessionmaker_for(db.session.make_engine(url))\n"
        "COUNTY = '513424'\n"
        "files = sorted(hierarchy.bundled_boundaries().glob('5134*.geojson'))\n"
        "with Session() as session, session.begin():\n"
        "    hierarchy.import_files(session, files, level='county', crs_name='gcj02')\n"
        "    if not demo.is_loaded(session, COUNTY, seed=1):\n"
        "        print(demo.load_county(session, COUNTY, seed=1))\n"
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

# Database, the bundled counties and a synthetic 德昌县 with grids: notebooks 03 and 05.
DECHANG_SETUP = (
    "settings = Settings()\n"
    "url = db.cluster.database_url(settings, start=True)\n"
    "migrations.upgrade(url)\n"
    "Session = db.session.sessionmaker_for(db.session.make_engine(url))\n"
    "COUNTY = '513424'\n"
    "files = sorted(hierarchy.bundled_boundaries().glob('5134*.geojson'))\n"
    "with Session() as session, session.begin():\n"
    "    hierarchy.import_files(session, files, level='county', crs_name='gcj02')\n"
    "    if not demo.is_loaded(session, COUNTY, seed=1):\n"
    "        demo.load_county(session, COUNTY, seed=1)\n"
    "        grids.generate_for_county(session, COUNTY)\n"
    "        lookup.rebuild_index(session, COUNTY)\n"
)

INCIDENTS = [
    new_markdown_cell(
        "# 03 事件办理 Incidents: report → closure\n\n"
        "A grid worker reports from a phone in GCJ-02; the API locates the report to its grid, "
        "assigns the grid's worker and opens the case. Staff take it through the seven stages "
        "(受理 → 立案 → 派遣 → 处置 → 反馈 → 核查结案 → 评价). Then: deadlines and escalation on a "
        "moved clock, who gets a case when the grid's worker is off duty, patrol coverage "
        "(走遍率) and monthly hotspots (每月一题). Uses a synthetic 德昌县 (513424)."
    ),
    new_code_cell(
        "from datetime import UTC, datetime, timedelta\n\n"
        "import folium\nimport numpy as np\nimport pandas as pd\nimport shapely\n"
        "import httpx\n"
        "from fastapi.testclient import TestClient\n\n"
        "from api.main import create_app\n"
        "from gridmap import crs, db, demo, grids, hierarchy, incidents, lookup, synth, workers\n"
        "from gridmap.auth import accounts\nfrom gridmap.vocabulary import Role\n"
        "from gridmap.db import migrations\nfrom gridmap.settings import Settings\n\n"
        + DECHANG_SETUP
        + "    if not db.workers.search(session, db.scope.EVERYTHING, county=COUNTY, limit=1)[0]:\n"
        "        print(demo.load_workers(session, COUNTY, seed=1))\n"
        "clock = [datetime(2026, 11, 23, 1, 0, tzinfo=UTC)]  # a clock this notebook moves\n"
        "app = create_app(Settings(database_url=url, escalate_every_s=0))\n"
        "api = TestClient(app)\napi.__enter__()\n"
        "app.state.clock = lambda: clock[0]\n\n"
        "# Everyone here logs in: three county staff and (below) the grid's worker.\n"
        "PASSWORD = 'notebook-password-1'\n"
        "with Session() as session, session.begin():\n"
        "    for name in ('center.li', 'center.wang', 'supervisor.chen'):\n"
        "        if db.accounts.by_username(session, name) is None:\n"
        "            accounts.create(session, username=name, role=Role.COUNTY_ADMIN,\n"
        "                            scope_codes=[COUNTY], password=PASSWORD)\n\n"
        "class LoggedIn(httpx.Auth):\n"
        '    """Log in as `username` (again once the notebook\'s clock passes the token\'s expiry)."""\n'
        "    requires_response_body = True\n\n"
        "    def __init__(self, username):\n"
        "        self.username, self.token, self.expires = username, None, None\n\n"
        "    def auth_flow(self, request):\n"
        "        if self.token is None or clock[0] >= self.expires:\n"
        "            login = yield httpx.Request('POST', request.url.copy_with(path='/api/v1/auth/token', query=None),\n"
        "                                        data={'username': self.username, 'password': PASSWORD})\n"
        "            self.token = login.json()['access_token']\n"
        "            self.expires = clock[0] + timedelta(seconds=login.json()['expires_in'])\n"
        "        request.headers['Authorization'] = f'Bearer {self.token}'\n"
        "        yield request\n\n"
        "people = {name: LoggedIn(name) for name in ('center.li', 'center.wang', 'supervisor.chen')}\n"
        "api.auth = people['center.li']"
    ),
    new_markdown_cell(
        "## 上报 Report from a phone (GCJ-02, with an Idempotency-Key)\n\n"
        "The phone's map app gives GCJ-02; the API turns it back into WGS84 before locating. "
        "Sending the same key again (a retry after a lost answer) returns the same case."
    ),
    new_code_cell(
        "with Session() as session:\n"
        "    layer = db.units.read(session, county=COUNTY, level='grid')\n"
        "grid = layer.iloc[len(layer) // 2]\n"
        "spot = shapely.buffer(grid.geometry, -0.0003).representative_point()\n"
        "glon, glat = crs.wgs84_to_gcj02(spot.x, spot.y)\n"
        "report = {'lon': float(glon), 'lat': float(glat), 'crs': 'gcj02', 'category': '0501',\n"
        "          'description': '河边垃圾堆放', 'reporter': '网格员 李华', 'gps_accuracy_m': 5}\n"
        "key = {'Idempotency-Key': 'phone-17:000123'}\n"
        "case = api.post('/api/v1/incidents', json=report, headers=key).json()\n"
        "retry = api.post('/api/v1/incidents', json=report, headers=key)\n"
        "assert retry.json()['id'] == case['id'] and retry.headers['Idempotent-Replayed'] == 'true'\n"
        "assert case['grid_code'] == grid['code']\n"
        "pd.Series({k: case[k] for k in ('id', 'grid_code', 'stage_zh', 'tier_zh', 'case_type_zh',\n"
        "                                'worker_id', 'stage_due', 'due_at', 'near_boundary')})"
    ),
    new_markdown_cell(
        "## 办理 The seven stages, with the audit trail\n\n"
        "Verification (核查) must be done by someone other than the handler or the dispatcher."
    ),
    new_code_cell(
        "# The case's grid worker gets an account of their own (scoped to their grids).\n"
        "worker_name = f\"worker.{case['worker_id']}\"\n"
        "with Session() as session, session.begin():\n"
        "    if db.accounts.by_username(session, worker_name) is None:\n"
        "        accounts.create(session, username=worker_name, role=Role.GRID_WORKER,\n"
        "                        worker_id=case['worker_id'], password=PASSWORD)\n"
        "people[worker_name] = LoggedIn(worker_name)\n\n"
        "def act(action, user, **body):\n"
        '    """`action` as `user`: who acts is the logged-in account, never a field."""\n'
        "    clock[0] += timedelta(hours=1)\n"
        "    return api.post(f\"/api/v1/incidents/{case['id']}/actions/{action}\", json=body,\n"
        "                    auth=people[user])\n\n"
        "act('accept', 'center.li')\n"
        "act('dispatch', 'center.wang', worker_id=case['worker_id'])\n"
        "act('start', worker_name)\n"
        "act('resolve', worker_name, note='已清运')\n"
        "refused = act('close', 'center.wang')  # the dispatcher may not verify\n"
        "print(refused.status_code, refused.json()['detail'])\n"
        "assert refused.status_code == 403\n"
        "act('close', 'supervisor.chen', note='现场核查通过')\n"
        "done = act('rate', 'center.li', rating=5).json()\n"
        "assert done['stage'] == 'rated'\n"
        "pd.DataFrame(done['events'])[['at', 'actor', 'action_zh', 'from_stage', 'to_stage', 'note']]"
    ),
    new_markdown_cell("An action the stage does not allow gets 409 with the allowed ones:"),
    new_code_cell(
        "wrong = act('dispatch', 'center.wang')\nassert wrong.status_code == 409\nwrong.json()"
    ),
    new_markdown_cell(
        "## 超时升级 Deadlines and escalation (分级响应)\n\n"
        "秸秆露天焚烧 (0503) must be finished within 2 hours; 5 % of that (6 minutes) is allowed "
        "for acceptance. Move the clock past it and the case climbs one tier."
    ),
    new_code_cell(
        "fire = api.post('/api/v1/incidents', json={**report, 'category': '0503'}).json()\n"
        "clock[0] += timedelta(minutes=7)\n"
        "late = api.get('/api/v1/incidents', params={'overdue': True, 'limit': 1000}).json()\n"
        "assert fire['id'] in {i['id'] for i in late['items']}\n"
        "with Session() as session, session.begin():\n"
        "    escalated = incidents.escalate_overdue(session, now=clock[0])\n"
        "after = api.get(f\"/api/v1/incidents/{fire['id']}\").json()\n"
        "print(fire['tier_zh'], '→', after['tier_zh'], '| escalated:', len(escalated))\n"
        "assert after['tier'] == 'village'"
    ),
    new_markdown_cell(
        "## 派单 Who gets the case when the grid's worker is off duty\n\n"
        "The on-duty worker of the same village with the lowest distance + 500 m × open cases, "
        "then of the township."
    ),
    new_code_cell(
        "primary = next(g['code'] for g in api.get(f\"/api/v1/workers/{case['worker_id']}\").json()['grids'])\n"
        "api.patch(f\"/api/v1/workers/{case['worker_id']}\", json={'on_duty': False})\n"
        "again = api.post('/api/v1/incidents', json={**report, 'category': '0601'}).json()\n"
        "stand_in = api.get(f\"/api/v1/workers/{again['worker_id']}\").json()\n"
        "api.patch(f\"/api/v1/workers/{case['worker_id']}\", json={'on_duty': True})\n"
        "assert again['worker_id'] != case['worker_id']\n"
        "assert any(g['code'].startswith(again['village_code']) for g in stand_in['grids'])\n"
        "pd.Series({'grid': primary, 'stand-in': stand_in['name'], 'role': stand_in['role_zh']})"
    ),
    new_markdown_cell(
        "## 走遍率 Patrol coverage\n\n"
        "A worker walks through the grid at 1.2 m/s with a fix every 20 s; coverage is the share "
        "of the grid's H3 resolution-11 cells the track passed through."
    ),
    new_code_cell(
        "inner = shapely.buffer(grid.geometry, -0.0002)\n"
        "stops = synth.uniform_inside(inner if not inner.is_empty else grid.geometry, 6,\n"
        "                             np.random.default_rng(3))\n"
        "path = shapely.LineString(stops)\n"
        "metres = path.length * 100_000\n"
        "steps = np.linspace(0, 1, max(2, int(metres / 24)))\n"
        "points = [path.interpolate(f, normalized=True) for f in steps]\n"
        "start = clock[0]\n"
        "fixes = [{'lon': p.x, 'lat': p.y, 't': (start + timedelta(seconds=20 * i)).isoformat()}\n"
        "         for i, p in enumerate(points)]\n"
        "print(api.post(f\"/api/v1/workers/{case['worker_id']}/positions\",\n"
        "               json={'crs': 'wgs84', 'fixes': fixes}).json())\n"
        "cover = api.get('/api/v1/workers/coverage', params={\n"
        "    'county': COUNTY, 'code': grid['code'], 'since': start.isoformat(),\n"
        "    'until': (start + timedelta(days=1)).isoformat()}).json()\n"
        "assert cover['grids'][0]['visited'] > 0\n"
        "cover['grids']"
    ),
    new_markdown_cell(
        "## 每月一题 Hotspots\n\n"
        "Counts per H3 cell, grid and category, growth over last month, and places where the "
        "same problem keeps coming back."
    ),
    new_code_cell(
        "for month, n in ((9, 2), (10, 3), (11, 5)):\n"
        "    clock[0] = datetime(2026, month, 12, 2, 0, tzinfo=UTC)\n"
        "    for _ in range(n):\n"
        "        api.post('/api/v1/incidents', json={**report, 'category': '0603'})\n"
        "hot = api.get('/api/v1/incidents/hotspots', params={'county': COUNTY, 'month': '2026-11'}).json()\n"
        "assert hot['recurring'] and hot['recurring'][0]['category'] == '0603'\n"
        "pd.DataFrame(hot['cells']).head()"
    ),
    new_markdown_cell("## 地图 Map: cases by stage"),
    new_code_cell(
        "listed = api.get('/api/v1/incidents', params={'county': COUNTY, 'limit': 1000}).json()['items']\n"
        "colour = {'reported': 'red', 'accepted': 'orange', 'dispatched': 'purple',\n"
        "          'handling': 'blue', 'resolved': 'cadetblue', 'closed': 'green', 'rated': 'darkgreen'}\n"
        "m = folium.Map(location=[spot.y, spot.x], zoom_start=15, tiles=None)\n"
        "folium.GeoJson(grid.geometry.__geo_interface__, name='网格 grid',\n"
        "               style_function=lambda f: {'color': '#333', 'fillOpacity': 0.1}).add_to(m)\n"
        "cases = folium.FeatureGroup(name='事件 incidents').add_to(m)\n"
        "for item in listed:\n"
        "    folium.CircleMarker([item['lat'], item['lon']], radius=6, color=colour[item['stage']],\n"
        "                        fill=True, tooltip=f\"{item['id']} {item['stage_zh']}\").add_to(cases)\n"
        "folium.LayerControl().add_to(m)\n"
        "api.__exit__(None, None, None)\n"
        "m"
    ),
]

MAPS_EXPORTS = [
    new_markdown_cell(
        "# 05 地图与导出 Maps and GIS exports\n\n"
        "Offline maps (Leaflet and every plugin vendored, no basemap by default, nothing from a "
        "CDN) and the files county GIS staff open in QGIS or ArcGIS: GeoPackage, Shapefile, "
        "GeoJSON, KML, CSV and GeoParquet, in CGCS2000 (EPSG:4490) by default, read back with "
        "GDAL. Uses a synthetic 德昌县 (513424)."
    ),
    new_code_cell(
        "import subprocess\nimport tempfile\nfrom pathlib import Path\n\n"
        "import pandas as pd\nimport pyogrio\nimport shapely\n\n"
        "from gridmap import db, demo, exports, grids, hierarchy, incidents, lookup, maps\n"
        "from gridmap.db import migrations\nfrom gridmap.settings import Settings\n\n"
        + DECHANG_SETUP
        + "    if not db.workers.search(session, db.scope.EVERYTHING, county=COUNTY, limit=1)[0]:\n"
        "        demo.load_workers(session, COUNTY, seed=1)\n"
        "        index = lookup.load_index(session)\n"
        "        demo.load_incidents(session, index, COUNTY, seed=1, count=60)\n"
        "out = Path(tempfile.mkdtemp(prefix='gridmap-05-'))"
    ),
    new_markdown_cell(
        "## 地图 A township map that works without a network\n\n"
        "Units by level, grids coloured by households (legend) with their worker, incidents "
        "clustered by stage plus a heat map, on-duty workers; a layer control; Chinese labels. "
        "`inline_assets` makes one self-contained file (what `gridmap map` writes)."
    ),
    new_code_cell(
        "with Session() as session:\n"
        "    township = db.units.read(session, county=COUNTY, level='township')['code'].iloc[0]\n"
        "    m = maps.unit_map(session, township)\n"
        "linked = maps.render(m)  # what /maps/{code} serves: assets from the app itself\n"
        "assert not maps.external_urls(linked), maps.external_urls(linked)\n"
        "page = maps.inline_assets(linked)  # one file (Leaflet's attribution link stays a link)\n"
        "(out / 'township.html').write_text(page, encoding='utf-8')\n"
        "assert '事件' in page and 'L.control.layers' in page\n"
        "print(township, f'{len(page.encode()) / 1e6:.2f} MB self-contained')"
    ),
    new_markdown_cell(
        "Basemaps are optional: Tianditu (key in `GRIDMAP_TIANDITU_KEY`), OSM or a self-hosted "
        "tile server. GCJ-02 tiles (Amap, Tencent) would sit 300–700 m off WGS84 data, so they "
        "are refused:"
    ),
    new_code_cell(
        "try:\n"
        "    maps.check_tile_url('https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)"
    ),
    new_markdown_cell(
        "## 导出 GeoPackage in CGCS2000, read back by GDAL\n\n"
        "Every layer in one file, with areas in m² and 亩 computed in the county's "
        "Gauss–Krüger zone and Chinese field aliases."
    ),
    new_code_cell(
        "with Session() as session:\n"
        "    report = exports.export_county(session, COUNTY, 'gpkg', out / 'county.gpkg')\n"
        "    counts = {name: db.units.count(session, county=COUNTY, level=level)\n"
        "              for name, level in (('townships', 'township'), ('villages', 'village'),\n"
        "                                  ('grids', 'grid'))}\n"
        "layers = dict(pyogrio.list_layers(out / 'county.gpkg'))\n"
        "for name, n in counts.items():\n"
        "    assert pyogrio.read_info(out / 'county.gpkg', layer=name)['features'] == n\n"
        "info = subprocess.run(['ogrinfo', '-so', str(out / 'county.gpkg'), 'grids'],\n"
        "                      capture_output=True, text=True, check=True).stdout\n"
        "assert '4490' in info\n"
        "grid_layer = pyogrio.read_dataframe(out / 'county.gpkg', layer='grids')\n"
        "print(report['crs'], report['seconds'], 's')\n"
        "grid_layer[['code', 'name', 'households', 'area_m2', 'area_mu']].head()"
    ),
    new_markdown_cell("## Shapefile for older ArcGIS (GBK), and the other formats"),
    new_code_cell(
        "rows = []\n"
        "with Session() as session:\n"
        "    for fmt, options in (('shp', {'encoding': 'gbk'}), ('geojson', {}), ('kml', {}),\n"
        "                         ('csv', {}), ('parquet', {}), ('gpkg', {'crs': 'gk'})):\n"
        "        target = out / f'{fmt}-{len(rows)}'\n"
        "        if fmt in ('kml', 'gpkg'):\n"
        "            target = target.with_suffix('.' + fmt)\n"
        "        done = exports.export_county(session, COUNTY, fmt, target, **options)\n"
        "        rows.append({'format': fmt, 'crs': done['crs'], 'files': len(done['files']),\n"
        "                     'seconds': done['seconds']})\n"
        "pd.DataFrame(rows)"
    ),
    new_markdown_cell("## 汇总表 Summary per township (also as XLSX)"),
    new_code_cell(
        "with Session() as session:\n"
        "    tables = exports.summary_tables(session, COUNTY)\n"
        "    exports.export_summary(session, COUNTY, 'xlsx', out / 'summary.xlsx')\n"
        "assert (out / 'summary.xlsx').stat().st_size > 0\n"
        "exports.labelled(tables['township']).head()"
    ),
]


NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_grids_lookup.ipynb": GRIDS_LOOKUP,
    "03_incidents.ipynb": INCIDENTS,
    "05_maps_exports.ipynb": MAPS_EXPORTS,
}


def main() -> None:
    """Write every notebook."""
    HERE.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(notebook, HERE / name)


if __name__ == "__main__":
    main()
