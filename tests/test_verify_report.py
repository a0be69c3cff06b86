"""`mlaudit verify-report`: a report made from a real ledger passes; tampering is caught."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "pdf_reports"))

from report_factory import make_run, meta_for  # noqa: E402

from app.ledger.checkpoint import Signer, VerifierKey  # noqa: E402
from app.services import keys as key_service  # noqa: E402
from app.services import proofs  # noqa: E402
from app.services.report_bundle import (  # noqa: E402
    CitedEntry,
    ConsistencyStep,
    make_bundle,
    open_bundle,
    render_bundle,
)
from app.services.report_verify import (  # noqa: E402
    all_passed,
    cited_seqs,
    key_strings,
    verify_report,
)
from app.storage import ledger as store  # noqa: E402
from reports import CheckpointInfo, RunReportEvidence  # noqa: E402
from reports.extract import read_attachment  # noqa: E402

OLD_SIZE = 130
NEW_SIZE = 150


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _info(row: Any) -> CheckpointInfo:
    signature = [line for line in row.note.splitlines() if line.startswith("\u2014 ")][-1]
    return CheckpointInfo(row.tree_size, _b64(row.root_hash), f"{row.key_id:08x}",
                          signature.split()[-1], row.note)


def _bundle(services: Any, row: Any, run: Any = None, from_sizes: tuple[int, ...] = (),
            **meta: Any) -> bytes:
    """A run report's bundle with real entries and proofs against checkpoint `row`."""
    evidence = RunReportEvidence(
        meta_for("run", b"", checkpoint=_info(row),
                 ledger_summary=f"{row.tree_size} entries verified", **meta),
        run or make_run(0))
    with services.pool.connection() as conn:
        entries = []
        for seq in cited_seqs(evidence):
            found = store.get_entry(conn, seq)
            assert found is not None
            proof = proofs.inclusion(conn, seq, row.tree_size)
            entries.append(CitedEntry(seq, found.canonical, tuple(proof.hashes)))
        steps = []
        for size in from_sizes:
            c = proofs.consistency(conn, size, row.tree_size)
            steps.append(ConsistencyStep(c.first, c.first_root, tuple(c.hashes)))
        published = [k.to_string() for k in key_service.verifier_keys(conn)]
    return make_bundle(evidence, row.note, row.tree_size, row.root_hash, published, entries,
                       steps, {"ok": meta.get("ledger_verified", True),
                                "entries": row.tree_size})


def _keys(services: Any) -> list[VerifierKey]:
    with services.pool.connection() as conn:
        return key_service.verifier_keys(conn)


def _verdict(checks: list[Any]) -> dict[str, bool | None]:
    return {c.name: c.ok for c in checks}


@pytest.fixture
def ledger(services: Any, append: Any) -> dict[str, Any]:
    """A ledger of 150 entries with checkpoints at 130 and 150 (make_run(0) cites seqs < 130)."""
    append(OLD_SIZE)
    old = services.checkpointer.sign_now()
    append(NEW_SIZE - OLD_SIZE)
    new = services.checkpointer.sign_now()
    assert OLD_SIZE <= old.tree_size < new.tree_size  # setup wrote a few entries too
    return {"old": old, "new": new, "keys": _keys(services)}


def _swap_bundle(bundle: bytes, edit: Any) -> bytes:
    document = json.loads(bundle)
    edit(document)
    from app.ledger.entry import canonicalize

    return canonicalize(document)


def test_fresh_report_passes_every_check(services: Any, ledger: dict[str, Any]) -> None:
    bundle = _bundle(services, ledger["new"])
    pdf = render_bundle(bundle)
    assert read_attachment(pdf) == bundle
    checks = verify_report(pdf, ledger["keys"])
    assert _verdict(checks) == {"bundle_hash": True, "entries": True, "checkpoint": True,
                                "figures": True, "verification": None}
    assert all_passed(checks)


def test_cli_with_the_served_key_file(services: Any, ledger: dict[str, Any], client: Any,
                                      run_cli: Any, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_bundle(_bundle(services, ledger["new"])))
    served = client.get("/api/v1/ledger/keys")
    assert served.status_code == 200
    keyfile = tmp_path / "keys.json"
    keyfile.write_bytes(served.get_data())
    assert [VerifierKey.from_string(k) for k in key_strings(keyfile.read_text())] == \
        ledger["keys"]
    result = run_cli("verify-report", str(pdf), "--key", str(keyfile))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["ok", "bundle_hash"], ["ok", "entries"], ["ok", "checkpoint"], ["ok", "figures"]]
    # The plain-text form, one key per line, works too; --json is machine-readable.
    textfile = tmp_path / "keys.txt"
    textfile.write_text("".join(k + "\n" for k in served.get_json()["keys"]))
    result = run_cli("verify-report", str(pdf), "--key", str(textfile), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True
    # Unreadable inputs: one line, exit 2.
    missing = run_cli("verify-report", str(tmp_path / "nope.pdf"), "--key", str(textfile))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    badkey = run_cli("verify-report", str(pdf), "--key", "not-a-key")
    assert badkey.returncode == 2 and len(badkey.stderr.strip().splitlines()) == 1


def test_changed_pdf_byte_fails_figures(services: Any, ledger: dict[str, Any]) -> None:
    bundle = _bundle(services, ledger["new"])
    pdf = render_bundle(bundle)
    # Find a byte of the page content that a changed figure would change, and flip it: the
    # file still parses and carries the original bundle, but no longer renders from it.
    changed = _swap_bundle(bundle, lambda d: d["evidence"]["run"]["metrics"][0].update(
        value="0.99"))
    forged = render_bundle(changed)
    assert forged != pdf
    index = next(i for i, (a, b) in enumerate(zip(pdf, forged, strict=False)) if a != b)
    tampered = pdf[:index] + bytes([pdf[index] ^ 0x01]) + pdf[index + 1:]
    checks = _verdict(verify_report(tampered, ledger["keys"]))
    assert checks["figures"] is False
    assert checks["entries"] and checks["checkpoint"]  # the attachment itself is untouched


def test_rendered_from_changed_figure_is_only_caught_if_tied_to_an_entry(
        services: Any, ledger: dict[str, Any]) -> None:
    bundle = _bundle(services, ledger["new"])
    changed = _swap_bundle(bundle, lambda d: d["evidence"]["run"]["metrics"][0].update(
        value="0.99"))
    checks = _verdict(verify_report(render_bundle(changed), ledger["keys"]))
    # Self-consistent: the footer, the figures and the proofs all hold. What is proven is that
    # the bundle's ENTRIES are in the ledger; an auditor compares figures with those entries.
    assert checks["bundle_hash"] and checks["figures"] and checks["entries"]
    assert checks["checkpoint"]


def test_changed_entry_bytes_fail_entries(services: Any, ledger: dict[str, Any]) -> None:
    bundle = _bundle(services, ledger["new"])
    seq = open_bundle(bundle).entries[0].seq

    def edit(document: dict[str, Any]) -> None:
        raw = base64.b64decode(document["entries"][0]["canonical"])
        document["entries"][0]["canonical"] = _b64(raw.replace(b'"item":"', b'"item":"X'))

    checks = verify_report(render_bundle(_swap_bundle(bundle, edit)), ledger["keys"])
    verdict = _verdict(checks)
    assert verdict["entries"] is False and verdict["figures"] and verdict["bundle_hash"]
    assert f"seq {seq}: inclusion proof does not verify" in checks[1].detail
    assert not all_passed(checks)


def test_missing_cited_entry_fails_entries(services: Any, ledger: dict[str, Any]) -> None:
    bundle = _swap_bundle(_bundle(services, ledger["new"]),
                          lambda d: d["entries"].pop())
    checks = verify_report(render_bundle(bundle), ledger["keys"])
    assert checks[1].ok is False and "cited but not in the bundle" in checks[1].detail


def test_wrong_key_fails_checkpoint(services: Any, ledger: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pdf = render_bundle(_bundle(services, ledger["new"]))
    origin = ledger["new"].note.splitlines()[0]
    stranger = Signer(origin, Ed25519PrivateKey.generate()).verifier_key
    checks = _verdict(verify_report(pdf, [stranger]))
    assert checks["checkpoint"] is False
    assert checks["entries"] and checks["figures"] and checks["bundle_hash"]


def test_not_a_pdf(ledger: dict[str, Any]) -> None:
    checks = verify_report(b"%PDF-1.4 nonsense", ledger["keys"])
    assert checks[0].ok is False and all(c.ok is None for c in checks[1:])
    assert not all_passed(checks)


def test_forced_report_is_flagged(services: Any, ledger: dict[str, Any]) -> None:
    bundle = _bundle(services, ledger["new"], forced=True, ledger_verified=False,
                     ledger_problem="chain hash mismatch at seq 7")
    checks = verify_report(render_bundle(bundle), ledger["keys"])
    names = {c.name: c for c in checks}
    assert "forced" in names and "NOT verify" in names["verification"].detail


def test_previous_report_consistency(services: Any, ledger: dict[str, Any]) -> None:
    older = render_bundle(_bundle(services, ledger["old"]))
    newer = render_bundle(_bundle(services, ledger["new"], from_sizes=(ledger["old"].tree_size,)))
    checks = verify_report(newer, ledger["keys"], previous=older)
    assert _verdict(checks)["consistency"] is True and all_passed(checks)
    # Same checkpoint twice is consistent; the newer one as "previous" is not.
    assert _verdict(verify_report(newer, ledger["keys"], previous=newer))["consistency"]
    backwards = _verdict(verify_report(older, ledger["keys"], previous=newer))
    assert backwards["consistency"] is False


def test_missing_or_forged_consistency_step_fails(services: Any,
                                                  ledger: dict[str, Any]) -> None:
    older = render_bundle(_bundle(services, ledger["old"]))
    missing = render_bundle(_bundle(services, ledger["new"]))
    checks = verify_report(missing, ledger["keys"], previous=older)
    assert _verdict(checks)["consistency"] is False and not all_passed(checks)

    def forge(document: dict[str, Any]) -> None:
        step = document["consistency"][0]
        step["proof"][0] = _b64(bytes(32))

    forged = render_bundle(_swap_bundle(
        _bundle(services, ledger["new"], from_sizes=(ledger["old"].tree_size,)), forge))
    checks = verify_report(forged, ledger["keys"], previous=older)
    assert _verdict(checks)["consistency"] is False

    def other_root(document: dict[str, Any]) -> None:
        document["consistency"][0]["from_root"] = _b64(bytes(32))

    rewritten = render_bundle(_swap_bundle(
        _bundle(services, ledger["new"], from_sizes=(ledger["old"].tree_size,)), other_root))
    detail = {c.name: c.detail for c in verify_report(rewritten, ledger["keys"], older)}
    assert "different root" in detail["consistency"]
