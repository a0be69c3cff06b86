"""Offline checks of a report's PAdES signature, and the rendered bytes it was appended to."""

from __future__ import annotations

import functools
import io
import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any

# pyHanko logs a tampered file's diff analysis with a traceback; verify-report states the
# verdict itself, so without a configured handler those records go nowhere (not to stderr).
logging.getLogger("pyhanko").addHandler(logging.NullHandler())

# What may follow a report's signature: nothing, or long-term validation data (a DSS, a
# document timestamp). An annotation, a form change or a new page is a change after signing.
_ALLOWED_AFTER = ("NONE", "LTA_UPDATES")


@functools.cache
def quiet_pyhanko() -> None:
    """Import pyHanko once without its import-time CryptographyDeprecationWarning (it imports
    DSA support), which would otherwise print on every command line that checks a report."""
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        import pyhanko.sign.signers  # noqa: F401
        import pyhanko.sign.validation  # noqa: F401


def _reader(pdf: bytes) -> Any:
    quiet_pyhanko()
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf), strict=False)


def _signatures(pdf: bytes) -> tuple[Any, list[Any]]:
    """(reader, its signatures); (None, []) for bytes pyHanko cannot read as a PDF."""
    if b"/ByteRange" not in pdf:
        return None, []  # no signature dictionary: spares loading pyHanko (~0.4 s)
    try:
        reader = _reader(pdf)
        return reader, list(reader.embedded_signatures)
    except Exception:  # noqa: BLE001 - an unreadable PDF has no signature to speak of
        return None, []


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF")
_PREV = re.compile(rb"/Prev\s+(\d+)")


def _revision_end(pdf: bytes, xref_at: int) -> int | None:
    """Where the revision whose cross-reference section starts at ``xref_at`` ends: just
    after its "startxref ... %%EOF" (and the line end that follows)."""
    found = re.compile(rb"startxref\s+" + str(xref_at).encode() + rb"\s+%%EOF").search(
        pdf, xref_at)
    if found is None:
        return None
    end = found.end()
    while end < len(pdf) and pdf[end] in b"\r\n":
        end += 1
    return end


def base_revision(pdf: bytes) -> bytes:
    """The first revision of the file: the bytes the renderer made, before any incremental
    update (a signature's, or anything appended later). The whole file when it has one
    revision, or when the cross-reference chain cannot be followed. Pure: follows each
    section's /Prev from the last startxref back to the first, with no PDF library."""
    found = list(_STARTXREF.finditer(pdf, max(0, len(pdf) - 4096)))
    if not found:
        return pdf
    last = found[-1]
    at, seen = int(last.group(1)), set()
    while at not in seen and 0 <= at < len(pdf):
        seen.add(at)
        trailer = pdf[at:at + (1 << 20)]
        head = trailer[:trailer.find(b"startxref")] if b"startxref" in trailer else trailer
        prev = _PREV.search(head)
        if prev is None:
            end = _revision_end(pdf, at)
            return pdf if end is None else pdf[:end]
        at = int(prev.group(1))
    return pdf


# What signing may change in the rendered revision's objects: the catalog gains the form and
# the PAdES extension, a page the signature widget, the document information its dates.
_MAY_CHANGE = {"/Catalog": {"/AcroForm", "/Extensions", "/Metadata", "/Version", "/Perms"},
               "/Page": {"/Annots"}, "info": {"/ModDate", "/Producer"}}


def _changed_keys(old: Any, new: Any) -> set[str]:
    keys = set(old.keys()) | set(new.keys())
    return {k for k in keys if (old.raw_get(k) if k in old else None)
            != (new.raw_get(k) if k in new else None)}


def _rewritten(reader: Any, revision: int) -> str | None:
    """What the signature's own revision changes in the revision before it beyond adding the
    signature: the rendered pages must come through signing unchanged. None if nothing."""
    from pyhanko.pdf_utils import generic

    if reader.xrefs.refs_freed_in_revision(revision):
        return "the signature's revision deletes objects of the rendered report"
    before, after = (reader.get_historical_resolver(r) for r in (revision - 1, revision))
    info = reader.trailer.raw_get("/Info") if "/Info" in reader.trailer else None
    for ref in sorted(reader.xrefs.explicit_refs_in_revision(revision), key=lambda r: r.idnum):
        if reader.xrefs.get_introducing_revision(ref) == revision:
            continue  # a new object: the signature, its field and widget, the form
        old, new = before(ref), after(ref)
        if isinstance(old, generic.StreamObject) and old.get("/Type") == "/Metadata":
            continue  # XMP metadata: its dates and producer
        kind = "info" if info is not None and info.idnum == ref.idnum else (
            old.get("/Type") if isinstance(old, generic.DictionaryObject) else None)
        allowed = _MAY_CHANGE.get(str(kind), set())
        if not (isinstance(old, generic.DictionaryObject)
                and isinstance(new, generic.DictionaryObject)
                and not isinstance(old, generic.StreamObject)
                and _changed_keys(old, new) <= allowed):
            return (f"the signature's revision rewrites object {ref.idnum} of the rendered "
                    "report")
    return None


def _name(cert: Any) -> str:
    return str(cert.subject.native.get("common_name") or cert.subject.human_friendly)


def _signer(status: Any) -> str:
    cert = status.signing_cert
    return f"{_name(cert)!r} (certificate SHA-256 {cert.sha256.hex()[:16]}...)"


def _problem(signature: Any, status: Any) -> str | None:
    if not status.intact:
        return "the signed bytes were changed after signing (their digest differs)"
    if not status.valid:
        return "the signature does not verify with the signer's certificate"
    coverage = status.coverage.name if status.coverage is not None else "UNKNOWN"
    if coverage not in ("ENTIRE_FILE", "ENTIRE_REVISION"):
        return f"the signature does not cover its whole revision ({coverage})"
    level = status.modification_level
    if coverage == "ENTIRE_REVISION" and (level is None or level.name not in _ALLOWED_AFTER):
        return ("the file was changed after signing: an incremental update "
                f"({level.name if level is not None else 'unanalysable'}) follows the signature")
    if status.docmdp_ok is False:
        return "the document was changed in a way the signature's permissions forbid"
    stamp = status.timestamp_validity
    if stamp is not None and not (stamp.intact and stamp.valid):
        return "the signature's timestamp token does not verify"
    return None


def _timestamp(status: Any) -> str:
    stamp = status.timestamp_validity
    if stamp is None:
        return "no timestamp"
    return f"timestamp {stamp.timestamp.isoformat()} by TSA {_name(stamp.signing_cert)!r}"


def check(pdf: bytes, trust_roots: Sequence[Any] = ()) -> tuple[bool | None, str]:
    """(ok, detail): None for an unsigned PDF; False naming the first signature's problem;
    True naming each signer. With trust_roots (asn1crypto certificates) the signer must also
    chain to one of them; without, integrity is checked and the signer named, not trusted.
    Where pyHanko is not installed (the standalone verifier), report_signature_light checks
    the same without trust roots (ImportError with them)."""
    try:
        quiet_pyhanko()
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext
    except ImportError:
        if trust_roots:
            raise
        from app.services import report_signature_light

        return report_signature_light.check(pdf)

    reader, signatures = _signatures(pdf)
    if not signatures:
        return None, "not signed"
    first = min(s.signed_revision for s in signatures)
    rewritten = "the signature is on the first revision" if first < 1 else _rewritten(
        reader, first)
    if rewritten is None:
        # pyHanko's rule lets a signing update add any annotation to a page; the rendered
        # pages must show the same, so only an invisible signature widget may be added.
        from app.services import report_signature_light
        from reports.extract import open_pdf

        byte_range = [int(n) for n in signatures[0].sig_object["/ByteRange"]]
        signed_part = pdf[:byte_range[2] + byte_range[3]]  # up to the end of its revision
        rewritten = report_signature_light.rewritten_pages(open_pdf(signed_part), signed_part)
    if rewritten is not None:
        return False, rewritten
    signed: list[str] = []
    for number, signature in enumerate(signatures, start=1):
        # Without given roots the signer's own certificate is the root: integrity and the
        # signer's name are checked, trust is not claimed (nor logged as a failure).
        try:  # signer_cert raises too: a certificate the signed attributes do not name
            roots = list(trust_roots) or [signature.signer_cert]
            context = ValidationContext(trust_roots=roots, allow_fetching=False)
            status = validate_pdf_signature(signature, context)
        except Exception as exc:  # noqa: BLE001 - pyHanko raises many kinds on a bad file
            return False, f"signature {number} cannot be validated: {exc}"
        problem = _problem(signature, status)
        if problem is None and trust_roots and not status.trusted:
            problem = "the signer's certificate does not chain to the given certificate"
        if problem is not None:
            return False, f"signature {number} by {_signer(status)}: {problem}"
        trusted = "; chains to the given certificate" if trust_roots else ""
        signed.append(f"by {_signer(status)}, intact, covering the whole file; "
                      f"{_timestamp(status)}{trusted}")
    return True, "; ".join(f"signed {s}" for s in signed)
