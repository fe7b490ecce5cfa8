"""Bodies the API documents: problem details, response envelopes, GeoJSON."""

from pydantic import BaseModel, ConfigDict


class Public(BaseModel):
    """A documented body: every field it carries is named here (tests validate with it)."""

    model_config = ConfigDict(extra="forbid")
