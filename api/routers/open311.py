"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): existing 311 clients list the
category catalogue as services, report incidents as service requests and follow their status.

Every resource answers in XML (required by the spec) and JSON, chosen by the path suffix; every
failure is an Open311 ``errors`` document with the matching HTTP status, never a 500. The routes
only fetch and store through the library; reading arguments, the documents and their renderings
are in ``api/open311/``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import now, session_in
from api.open311 import arguments, documents
from api.open311.errors import Open311Error
from api.open311.formats import RESPONSES, serve
from api.routers.incidents import actor_of
from gridmap import audit, categories, incidents
from gridmap.auth.access import Principal
from gridmap.errors import InvalidInputError, UnauthorizedError
from gridmap.vocabulary import AuditAction, Permission

router = APIRouter(tags=["open311"], responses=RESPONSES)


def _caller(request: Request, api_key: str | None) -> Principal:
    """An API client by its ``api_key`` (the GeoReport way), else a token or session cookie
    like every other route; 401 without either.
    """
    state = request.app.state
    if api_key:
        principal: Principal = state.guard.client(api_key, state.clock(), state.sessions)
    else:
        try:
            principal = state.guard.from_headers(
                dict(request.scope["headers"]), request.method, state.clock(), state.sessions
            )
        except UnauthorizedError as error:
            raise UnauthorizedError(
                f"send api_key (an API client's key) or a bearer token: {error}"
            ) from None
    principal.require(Permission.READ_INCIDENTS)
    return principal


def _query_key(request: Request) -> str | None:
    return request.query_params.get("api_key")


@router.get("/discovery.{format}", summary="Service discovery")
async def discovery(request: Request, format: str) -> Response:
    """Where this GeoReport v2 endpoint lives and which formats it speaks."""
    url = f"{request.base_url}open311/v2"

    async def work() -> dict[str, Any]:
        return documents.discovery(url)

    return await serve(request, format, "discovery", work)


@router.get("/services.{format}", summary="Service list / 事件分类")
async def services(request: Request, format: str) -> Response:
    """Every active 小类 as a service, grouped by its 大类."""

    def read() -> list[dict[str, Any]]:
        with request.app.state.sessions() as session:
            return documents.services(categories.catalogue(session))

    async def work() -> list[dict[str, Any]]:
        await run_in_threadpool(_caller, request, _query_key(request))
        arguments.jurisdiction(request.query_params.get("jurisdiction_id"), _names(request))
        return await run_in_threadpool(read)

    return await serve(request, format, "services", work)


@router.get("/services/{service_code}.{format}", summary="Service definition")
async def service_definition(request: Request, service_code: str, format: str) -> Response:
    """A service's extra attributes: none, every service needs only the standard fields."""

    def read() -> dict[str, Any]:
        with request.app.state.sessions() as session:
            catalogue = categories.catalogue(session)
        return documents.service_definition(service_code, catalogue)

    async def work() -> dict[str, Any]:
        await run_in_threadpool(_caller, request, _query_key(request))
        arguments.jurisdiction(request.query_params.get("jurisdiction_id"), _names(request))
        return await run_in_threadpool(read)

    return await serve(request, format, "service_definition", work)


@router.post("/requests.{format}", summary="Report / 上报 (form-encoded)")
async def create_request(request: Request, format: str) -> Response:
    """Report an incident: located by lat/long (``crs`` extension: wgs84, cgcs2000, gcj02 or
    bd09), assigned to its grid and worker, stored with its first audit row.
    """
    state = request.app.state

    def store(
        principal: Principal, report: incidents.Report, county: str | None
    ) -> incidents.Intake:
        with session_in(request, principal.report_scope) as session:
            intake = incidents.report_incident(
                session,
                state.index,
                report,
                key=None,
                now=now(request),
                near_boundary_m=state.settings.near_boundary_m,
                source="open311",
                actor=actor_of(principal),
                bounds=state.time_bounds,
            )
            if county is not None and intake.incident["county_code"] != county:
                raise InvalidInputError(  # raised inside the transaction: nothing is stored
                    f"the point lies in county {intake.incident['county_code']}, "
                    f"not in jurisdiction_id {county}"
                )
            audit.record(
                session,
                audit.entry(
                    principal,
                    AuditAction.CREATE,
                    "incident",
                    intake.incident["id"],
                    county=intake.incident["county_code"],
                    after={"grid_code": intake.incident["grid_code"], "source": "open311"},
                ),
            )
            session.commit()
            return intake

    async def work() -> list[dict[str, Any]]:
        fields = await arguments.read_form(request)
        principal = await run_in_threadpool(_caller, request, fields.get("api_key"))
        principal.require(Permission.REPORT)
        county = arguments.jurisdiction(fields.get("jurisdiction_id"), _names(request))
        intake = await run_in_threadpool(store, principal, arguments.report(fields), county)
        return documents.created(intake.incident)

    return await serve(request, format, "service_requests", work, status=201, posting=True)


@router.get("/requests.{format}", summary="Service requests / 事件查询")
async def list_requests(request: Request, format: str) -> Response:
    """Requests by ``service_request_id`` (comma list; overrides the rest), or by
    ``service_code``, ``status``, ``start_date``/``end_date`` (default: last 90 days), and the
    extensions ``bbox`` and ``jurisdiction_id`` (county code); newest first, at most 1000.
    """
    params = request.query_params
    state = request.app.state
    principal: Principal | None = None

    def by_ids(session: Any, ids: list[int]) -> list[incidents.IncidentView]:
        assert principal is not None
        return incidents.search(
            session, now=now(request), ids=ids, limit=arguments.MAX_REQUESTS, scope=principal.scope
        )[1]

    def by_filters(session: Any, filters: dict[str, Any]) -> list[incidents.IncidentView]:
        assert principal is not None
        known = documents.service_names(categories.catalogue(session))
        codes = arguments.service_codes(params.get("service_code"), known)
        found: list[incidents.IncidentView] = []
        wanted: list[str | None] = list(codes) if codes else [None]
        for code in wanted:
            _, items = incidents.search(
                session,
                now=now(request),
                category=code,
                limit=arguments.MAX_REQUESTS,
                scope=principal.scope,
                **filters,
            )
            found.extend(i for i in items if code is None or i["category_code"] == code)
        found.sort(key=lambda i: (i["reported_at"], i["id"]), reverse=True)
        return found[: arguments.MAX_REQUESTS]

    def read(ids: list[int] | None, filters: dict[str, Any]) -> list[Any]:
        assert principal is not None
        with session_in(request, principal.scope) as session:
            found = by_ids(session, ids) if ids is not None else by_filters(session, filters)
            found = [principal.redact("incident", i) for i in found]
            notes = incidents.latest_notes(session, [i["id"] for i in found])
            service_names = documents.service_names(categories.catalogue(session))
        return [
            documents.service_request(
                i, note=notes.get(i["id"], ""), service_names=service_names, names=state.index.names
            )
            for i in found
        ]

    async def work() -> list[Any]:
        nonlocal principal
        principal = await run_in_threadpool(_caller, request, _query_key(request))
        ids = arguments.request_ids(params.get("service_request_id"))
        if ids is not None:
            return await run_in_threadpool(read, ids, {})
        filters = arguments.search_filters(params, now(request), _names(request))
        return await run_in_threadpool(read, None, filters)

    return await serve(request, format, "service_requests", work)


@router.get("/requests/{service_request_id}.{format}", summary="One service request / 事件")
async def get_request(request: Request, service_request_id: str, format: str) -> Response:
    """One request (as a one-item list, per spec) with its latest status note."""
    state = request.app.state

    def read(principal: Principal, incident_id: int, county: str | None) -> list[dict[str, Any]]:
        with session_in(request, principal.scope) as session:
            found = incidents.get(session, incident_id, now=now(request), scope=principal.scope)
            incident = principal.redact("incident", found)
            service_names = documents.service_names(categories.catalogue(session))
        if county is not None and incident["county_code"] != county:
            raise Open311Error(404, f"no service request {incident_id} in jurisdiction {county}")
        events = incident.get("events") or []
        note = events[-1]["note"] if events else ""
        return [
            documents.service_request(
                incident, note=note, service_names=service_names, names=state.index.names
            )
        ]

    async def work() -> list[dict[str, Any]]:
        principal = await run_in_threadpool(_caller, request, _query_key(request))
        county = arguments.jurisdiction(
            request.query_params.get("jurisdiction_id"), _names(request)
        )
        incident_id = arguments.request_id(service_request_id)
        if incident_id is None:
            raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
        return await run_in_threadpool(read, principal, incident_id, county)

    return await serve(request, format, "service_requests", work)


def _names(request: Request) -> dict[str, str]:
    """The current index's names by code: the loaded units a jurisdiction_id may name."""
    names: dict[str, str] = request.app.state.index.names
    return names
