"""The region picker's lists for an address form as typed (province → city → district)."""

from collections.abc import Mapping
from typing import Any

from pocketshop import regions


def region_picker(form: Mapping[str, str]) -> dict[str, Any]:
    """The picker's three lists and choices for a form as typed: a city not in the chosen
    province (or a district not in the city) is dropped, so "Choose" moves on a level. An
    older address with names only is matched by name."""
    province = form.get("province_code") or regions.province_by_name(form.get("province", ""))
    cities = regions.cities(province or "")
    city = _pick(cities, form.get("city_code", ""), form.get("city", ""))
    districts = regions.districts(city) if city else ()
    district = _pick(districts, form.get("district_code", ""), form.get("district", ""))
    return {
        "provinces": regions.provinces(),
        "cities": cities,
        "districts": districts,
        "province_code": province if cities else "",
        "city_code": city,
        "district_code": district,
    }


def _pick(choices: tuple[regions.Region, ...], code: str, name: str) -> str:
    for region in choices:
        if (code and region.code == code) or (not code and name and region.name == name):
            return region.code
    return ""
