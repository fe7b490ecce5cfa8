"""Dependency aliases: routers name these, never SQLAlchemy or app.state directly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from gridmap.lookup import Index
from gridmap.settings import Settings


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:  # closing without commit rolls back
        yield session


def _index(request: Request) -> Index:
    return request.app.state.index


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@dataclass(frozen=True, slots=True)
class Page:
    """Pagination parameters shared by list endpoints."""

    limit: int
    offset: int


def _page(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="page size / 每页条数")] = 100,
    offset: Annotated[int, Query(ge=0, description="rows to skip / 跳过条数")] = 0,
) -> Page:
    return Page(limit=min(limit, request.app.state.settings.max_page_size), offset=offset)


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
IndexDep = Annotated[Index, Depends(_index)]
PageDep = Annotated[Page, Depends(_page)]
