"""The evidence pack of a request: a printable page and the signed JSON download (same visibility as
the request: whoever may not see it gets 404)."""

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from upgrades import evidence, selectors
from upgrades.models import UpgradeRequest


def _signed(user, request_id: int) -> tuple[UpgradeRequest, dict]:
    try:
        req = selectors.get_request(user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None
    return req, evidence.signed_pack(req)


@login_required
def evidence_page(request, request_id: int):
    req, pack = _signed(request.user, request_id)
    facts = pack["evidence"]
    names = {s["id"]: s["name"] or s["zone_id"] for s in facts["services"]}

    def named(rows: list[dict]) -> list[dict]:
        return [{**row, "service_name": names.get(row["service_id"], "")} for row in rows]

    context = {
        "req": req,
        "pack": pack,
        "facts": facts,
        "approvals": named(facts["approvals"]),
        "acted": named(facts["acted"]),
        "events": named(facts["events"]),
        "calls": named(facts["cf_calls"]),
        "size": len(evidence.canonical(pack)),
    }
    return render(request, "upgrades/evidence.html", context)


@login_required
def evidence_json(request, request_id: int):
    req, pack = _signed(request.user, request_id)
    response = HttpResponse(json.dumps(pack, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{req.reference}-evidence.json"'
    return response
