#!/usr/bin/env python3
"""Rebuilds domain/data/postcode-districts.csv from the NHS COVID-19 app's table of postcode districts.

Usage: scripts/postcode-districts.py localAuthorities.json > domain/data/postcode-districts.csv

The source and what is done to it are described in domain/data/postcode-districts.SOURCE.md.
Each district's local authority codes are carried forward through domain/data/superseded-codes.csv
(abolitions and re-codings since 2021) until they name a current authority of
domain/data/housing-authorities.csv; the script stops with an error if one does not.
"""
import csv
import json
import pathlib
import re
import sys

DATA = pathlib.Path(__file__).resolve().parent.parent / "domain" / "data"
DISTRICT = re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]?")


def main() -> None:
    source = json.load(open(sys.argv[1], encoding="utf-8"))["postcodes"]
    current = {r["gss_code"] for r in csv.DictReader(open(DATA / "housing-authorities.csv", encoding="utf-8"))}
    successor = {
        r["former_code"]: r["current_code"]
        for r in csv.DictReader(open(DATA / "superseded-codes.csv", encoding="utf-8"))
    }

    def forward(code: str) -> str:
        for _ in range(5):
            if code in current:
                return code
            code = successor.get(code, code)
        sys.exit(f"{code} is neither current nor superseded")

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["district", "gss_codes", "outside_england"])
    for district in sorted(source):
        if not DISTRICT.fullmatch(district):
            sys.exit(f"{district!r} is not a postcode district")
        codes = source[district]
        england = sorted({forward(c) for c in codes if c.startswith("E")})
        outside = any(not c.startswith("E") for c in codes)
        out.writerow([district, ";".join(england), "yes" if outside else ""])


if __name__ == "__main__":
    main()
