"""GET /api/v1/regions: the address form's picker, public and cacheable."""

from typing import Annotated

from fastapi import Query, Response
from pydantic import BaseModel

from pocketshop import regions
from pocketshop.errors import NotFound
from pocketshop.i18n import _
from pocketshop.web.routing import api_router

router = api_router(prefix="/api/v1", tags=["regions"])

CACHE = "public, max-age=86400"


class RegionOut(BaseModel):
    code: str
    name: str


@router.get("/regions")
async def list_regions(
    response: Response,
    parent: Annotated[str, Query(max_length=6, pattern=r"^([0-9]{6})?$")] = "",
) -> list[RegionOut]:
    """Provinces when no parent is given; a province's cities; a city's districts. Codes are
    6-digit adcodes (China's administrative divisions, 2023); names are Chinese."""
    found = regions.children(parent)
    if parent and not found:
        raise NotFound(_("No such region."), code="region_not_found")
    response.headers["Cache-Control"] = CACHE
    return [RegionOut(code=region.code, name=region.name) for region in found]
