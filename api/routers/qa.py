"""GET /qa/{county}: topology QA report for one county."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.schemas.problem import COMMON, problems
from api.schemas.units import QAReportPublic
from api.security import PrincipalDep
from gridmap import qa
from gridmap.errors import NotFoundError
from gridmap.vocabulary import Permission

router = APIRouter(tags=["qa 拓扑检查"], responses=COMMON)


@router.get(
    "/qa/{county}",
    summary="Topology QA / 拓扑检查",
    response_model=QAReportPublic,
    responses=problems(404),
)
def check_county(
    county: str,
    principal: PrincipalDep,
    session: SessionDep,
    min_area_m2: Annotated[float, Query(ge=0, le=1e9)] = qa.DEFAULT_MIN_AREA_M2,
    generation: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Gaps, overlaps, spills, orphans, duplicates and invalid geometry, with areas in m²
    (for a county in the caller's area).
    """
    principal.require(Permission.READ_QA)
    if not principal.scope.touches(county):
        raise NotFoundError(f"no county {county} in your area", code=county)
    return qa.check_county(
        session, county, min_area_m2=min_area_m2, generation=generation
    ).to_dict()
