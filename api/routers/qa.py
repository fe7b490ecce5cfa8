"""GET /qa/{county}: topology QA report for one county."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.schemas.problem import COMMON, problems
from api.schemas.units import QAReportPublic
from gridmap import qa

router = APIRouter(tags=["qa 拓扑检查"], responses=COMMON)


@router.get(
    "/qa/{county}",
    summary="Topology QA / 拓扑检查",
    response_model=QAReportPublic,
    responses=problems(404),
)
def check_county(
    county: str,
    session: SessionDep,
    min_area_m2: Annotated[float, Query(ge=0, le=1e9)] = qa.DEFAULT_MIN_AREA_M2,
    generation: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Gaps, overlaps, spills, orphans, duplicates and invalid geometry, with areas in m²."""
    return qa.check_county(
        session, county, min_area_m2=min_area_m2, generation=generation
    ).to_dict()
