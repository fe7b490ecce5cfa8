"""The map of a relocation plan (搬迁安置方案图): village outlines, the hazard area, a flow line
from each grid (or village) to each site its households go to, width by households, and the
sites sized by this plan's load. Households are drawn only in aggregate: the map is for a
county meeting, not a list of homes.
"""

from __future__ import annotations

from typing import Any

import folium
import numpy as np
import pandas as pd
from branca.element import Element, Figure
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from gridmap import db
from gridmap.maps.assets import ASSET_ROUTE, localize
from gridmap.maps.layers import (
    DECIMALS,
    LABELS,
    OUTLINE_STYLE,
    SITE_COLORS,
    STYLE_CSS,
    TOLERANCE_DEG,
    escaped,
    feature_collection,
    simplify,
    site_layer,
)
from gridmap.relocation.plans import PlanResult
from gridmap.vocabulary import Language

HAZARD_STYLE = {"color": "#b2182b", "weight": 2, "fillColor": "#ef8a62", "fillOpacity": 0.35}


def flows(result: PlanResult) -> pd.DataFrame:
    """One row per (grid or village, site): households, persons and the households' mean
    position (where the flow line starts).
    """
    served = result.households.dropna(subset=["site_id"]).copy()
    served["origin"] = served["grid_code"].fillna(served["village_code"])
    grouped = served.groupby(["origin", "site_id"], sort=True).agg(
        households=("household_id", "size"),
        persons=("persons", "sum"),
        lon=("lon", "mean"),
        lat=("lat", "mean"),
    )
    return grouped.reset_index()


def plan_map(
    session: Session, result: PlanResult, *, lang: str = "zh", asset_url: str = ASSET_ROUTE
) -> folium.Map:
    """The plan's map as a folium map whose assets all come from ``asset_url``."""
    Language.parse(lang)
    labels = LABELS[lang]
    villages = db.units.read(session, county=result.county, level="village")
    moved = flows(result)
    sites = result.sites
    anchors = shapely.point_on_surface(shapely.from_wkb([s["wkb"] for s in sites]))
    where = {s["id"]: (p.x, p.y) for s, p in zip(sites, anchors, strict=True)}
    hazard = result.request.get("hazard")
    extent = [
        *(moved[["lon", "lat"]].to_numpy().tolist()),
        *where.values(),
    ]
    xs, ys = np.array([e[0] for e in extent]), np.array([e[1] for e in extent])
    m = folium.Map(
        location=[float(ys.mean()), float(xs.mean())],
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_start=11,
        maxZoom=19,
        minZoom=4,
    )
    if not villages.empty:
        outline = villages[["code", "name", "geometry"]].copy()
        outline["geometry"] = simplify(outline.geometry.values, TOLERANCE_DEG["township"])
        outline["name"] = outline["name"].map(escaped)
        folium.GeoJson(
            feature_collection(outline),
            name=labels["village"],
            style_function=lambda _: OUTLINE_STYLE["village"],
            tooltip=folium.GeoJsonTooltip(
                ["name", "code"], aliases=[labels["name"], labels["code"]]
            ),
        ).add_to(m)
    if hazard:
        folium.GeoJson(
            {"type": "Feature", "geometry": hazard, "properties": {}},
            name=labels["hazard"],
            style_function=lambda _: HAZARD_STYLE,
        ).add_to(m)
    if len(moved):
        ends = np.array([where[int(s)] for s in moved["site_id"]])
        lines = shapely.linestrings(
            np.stack((moved[["lon", "lat"]].to_numpy(), ends), axis=1).round(DECIMALS)
        )
        widest = max(int(moved["households"].max()), 1)
        kind = {s["id"]: s["kind"] for s in sites}
        name = {s["id"]: escaped(s["name"]) for s in sites}
        frame = gpd.GeoDataFrame(
            {
                "origin": moved["origin"],
                "site": [name[int(s)] for s in moved["site_id"]],
                "households": moved["households"].astype(int),
                "width": (1 + 7 * (moved["households"] / widest) ** 0.5).round(1),
                "color": [SITE_COLORS[kind[int(s)]] for s in moved["site_id"]],
            },
            geometry=lines,
            crs="EPSG:4326",
        )
        folium.GeoJson(
            feature_collection(frame),
            name=f"{labels['flows']} ({len(frame)})",
            style_function=lambda f: {
                "color": f["properties"]["color"],
                "weight": f["properties"]["width"],
                "opacity": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(
                ["origin", "site", "households"],
                aliases=[labels["grid"], labels["sites"], labels["households_moved"]],
            ),
        ).add_to(m)
    for layer in site_layer(sites, lang):
        layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[float(ys.min()), float(xs.min())], [float(ys.max()), float(xs.max())]])
    _title(m, result, lang)
    return localize(m, asset_url)


def _title(m: folium.Map, result: PlanResult, lang: str) -> None:
    summary: dict[str, Any] = result.summary
    root = m.get_root()
    assert isinstance(root, Figure)
    root.header.add_child(Element(STYLE_CSS), name="gridmap_css")
    if lang == "zh":
        text = (
            f"安置方案 {result.id}：{summary['assigned']} / {summary['households']} 户已安置"
            f"，未安置 {summary['unassigned']} 户"
        )
    else:
        text = (
            f"Relocation plan {result.id}: {summary['assigned']} of {summary['households']} "
            f"households placed, {summary['unassigned']} unplaced"
        )
    root.html.add_child(
        Element(f'<div class="gridmap-title">{escaped(text)} <small>{result.county}</small></div>')
    )
