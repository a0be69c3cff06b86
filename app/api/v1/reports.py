"""/api/v1 PDF audit reports (admin and auditor) and the lookup of issued reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from flask import Blueprint, Response, jsonify, request
from marshmallow import fields, validate

from app.api.http.auth import current_principal, require
from app.api.http.context import services
from app.api.http.docs import BINARY, Out, ok, operation, text
from app.api.http.errors import ApiError
from app.api.http.scope import (
    authorize_experiment,
    authorize_model,
    authorize_run,
    granted,
)
from app.api.http.units import read
from app.api.v1.schemas import _Strict, load
from app.services import entry_scope, reports
from app.services.report_signing import ReportSigningError
from app.tracking.limits import SHA256_HEX

bp = Blueprint("reports", __name__, url_prefix="/api/v1")
READERS = ("admin", "auditor")


class ReportQuery(_Strict):
    force = fields.Boolean(load_default=False)


class ModelReportQuery(ReportQuery):
    version = fields.Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))
    as_of = fields.AwareDateTime(load_default=None, default_timezone=UTC)


class LookupQuery(_Strict):
    sha256 = fields.String(required=True, validate=validate.Regexp(rf"^{SHA256_HEX.pattern}$"))


def _force(requested: bool) -> bool:
    if requested and current_principal().role != "admin":
        raise ApiError(403, "Forbidden", "only an admin may force a report")
    return requested


def _send(issue: Callable[[], reports.Issued]) -> Response:
    try:
        issued = issue()
    except reports.NotFound as exc:
        raise ApiError(404, "Not Found", str(exc)) from exc
    except reports.LedgerDamaged as exc:
        raise ApiError(409, "Conflict",
                       f"ledger verification failed, no report issued: {exc.problem}",
                       seq=exc.seq, damage=exc.kind) from exc
    except ReportSigningError as exc:  # e.g. the TSA did not answer: no report is issued
        raise ApiError(503, "Service Unavailable", str(exc)) from exc
    response = Response(issued.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{issued.filename}"'
    response.headers["X-Evidence-SHA256"] = issued.bundle_sha256
    response.headers["X-Report-Id"] = issued.report_id
    response.headers["X-Report-Seq"] = str(issued.seq)
    return response


_PDF = ok(BINARY, "the report; its evidence bundle is attached inside", "application/pdf",
          headers={h: {"description": d, "schema": {"type": "string"}} for h, d in (
              ("Content-Disposition", "attachment; filename=..."),
              ("X-Evidence-SHA256", "hex SHA-256 of the attached evidence bundle"),
              ("X-Report-Id", "the report's id"),
              ("X-Report-Seq", "seq of the report.issued ledger entry"))})


_REPORT_NOTE = ("Every issuance is a report.issued ledger entry. If ledger verification fails "
                "the answer is 409 naming the damaged seq, unless an admin passes force=true; "
                "scoped tokens reach only their granted experiments. The PDF carries a PAdES "
                "signature by the report-signing certificate (docs/report-signatures.md); if "
                "signing fails (e.g. the configured TSA does not answer) the answer is 503.")


class ReportLookupSchema(Out):
    """The members after sha256 are present when issued is true."""

    issued = fields.Boolean(required=True)
    sha256 = text()
    report_id, kind, subject = fields.String(), fields.String(), fields.String()
    bundle_sha256, issued_to = fields.String(), fields.String()
    tree_size, seq = fields.Integer(), fields.Integer()
    issued_at = fields.String(metadata={"format": "date-time"})


LOOKUP = ReportLookupSchema()


@bp.get("/reports/runs/<run_id>.pdf")
@operation(
    "A signed PDF audit report of one run, with its evidence bundle attached",
    {200: _PDF}, query=ReportQuery, problems=(403, 404, 409, 503),
    description=_REPORT_NOTE)
@require(*READERS)
def run_report(run_id: str) -> Response:
    query = load(ReportQuery(), request.args)
    authorize_run(run_id)
    force = _force(query["force"])
    actor = current_principal().actor
    return _send(lambda: reports.run_report(services(), actor, run_id, force))


@bp.get("/reports/experiments/<experiment_id>.pdf")
@operation(
    "A signed PDF audit report comparing the runs of one experiment",
    {200: _PDF}, query=ReportQuery, problems=(403, 404, 409, 503),
    description=_REPORT_NOTE)
@require(*READERS)
def experiment_report(experiment_id: str) -> Response:
    query = load(ReportQuery(), request.args)
    authorize_experiment(experiment_id)
    force = _force(query["force"])
    actor = current_principal().actor
    return _send(lambda: reports.experiment_report(services(), actor, experiment_id, force))


@bp.get("/reports/models/<name>.pdf")
@operation(
    "A signed PDF audit report of a registered model (all versions, or ?version=)",
    {200: _PDF}, query=ModelReportQuery, problems=(403, 404, 409, 503),
    description=_REPORT_NOTE + " as_of limits the policy, versions, promotions, decisions "
    "and deployments to entries recorded by then; runs, stages and aliases are current.")
@require(*READERS)
def model_report(name: str) -> Response:
    query = load(ModelReportQuery(), request.args)
    principal = current_principal()
    authorize_model(name)
    force = _force(query["force"])
    return _send(lambda: reports.model_report(services(), principal.actor, name,
                                              query["version"], query["as_of"], force))


@bp.get("/reports/lookup")
@operation(
    "Whether a PDF (or evidence bundle) with this SHA-256 was issued here, when, for whom",
    {200: ok(ReportLookupSchema)}, query=LookupQuery,
    description='An unknown digest answers 200 {"issued": false}; so does, to a scoped '
    "token, the digest of a report whose subject lies outside its experiments.")
@require(*READERS)
def lookup() -> Response:
    """Whether a PDF (or bundle) with this SHA-256 was issued here; {"issued": false} if not,
    and also, to a scoped token, if its subject lies outside the token's experiments."""
    sha256 = load(LookupQuery(), request.args)["sha256"]
    found = reports.lookup(services(), sha256)
    scope = granted()
    if found["issued"] and scope is not None and not read(
            lambda c: entry_scope.reaches(c, scope, found["kind"], found["subject"])):
        found = {"issued": False, "sha256": sha256}  # exactly what an unknown digest gets
    return jsonify(LOOKUP.dump(found))
