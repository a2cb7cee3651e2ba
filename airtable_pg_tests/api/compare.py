"""Same client calls against the sandbox (Airtable's answers) and the mirror's API; whole answers compared."""

from __future__ import annotations

from typing import Any

import requests
from pyairtable import Api

from airtable_formula.ordering import sort_key


def outcome(api: Api, base_id: str, table: str, **options: Any) -> Any:
    """Every record a listing returns, or the error (status and type) it was refused with."""
    try:
        return {"records": api.table(base_id, table).all(**options)}
    except requests.HTTPError as error:
        return {"status": error.response.status_code, "error": _error_type(error.response)}


def pages(api: Api, base_id: str, table: str, **options: Any) -> list[list[dict]]:
    return list(api.table(base_id, table).iterate(**options))


def _error_type(response: requests.Response) -> Any:
    body = response.json()["error"]
    return body["type"] if isinstance(body, dict) else body


def normalized(answer: Any, sort: list[str] | None) -> Any:
    """Airtable's order is undefined where it promises none: without ``sort`` records compare as a set (by id), with
    one, records whose sort cells tie (as Airtable orders them: "NULL" and "null" tie) compare as a set within their
    run."""
    if "records" not in answer:
        return answer
    records = answer["records"]
    if not sort:
        return {"records": sorted(records, key=lambda r: r["id"])}
    names = [name.lstrip("-") for name in sort]
    runs: list[list[dict]] = []
    for record in records:
        cells = [sort_key(record["fields"].get(name)) for name in names]
        if runs and [sort_key(runs[-1][0]["fields"].get(name)) for name in names] == cells:
            runs[-1].append(record)
        else:
            runs.append([record])
    return {"records": [r for run in runs for r in sorted(run, key=lambda r: r["id"])]}


def assert_same(served: Any, base_id: str, table: str, sort: list[str] | None = None, **options: Any) -> dict:
    """The same listing through pyairtable against the API and the sandbox: equal answers; the sandbox's returned."""
    if sort:
        options["sort"] = sort
    mirror = outcome(served.mirror(), base_id, table, **options)
    airtable = outcome(served.airtable(), base_id, table, **options)
    assert normalized(mirror, sort) == normalized(airtable, sort)
    return airtable
