"""A report's PAdES signature checked without pyHanko: cryptography and pypdf only."""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from app.services.report_cms import CmsError, timestamp, verify_signed_data
from app.services.report_signature import base_revision

NOT_VALIDATED = ("checked without pyHanko: the signer's certificate is not validated against "
                 "a trust root")
# What signing may change in the rendered report's catalog (pyHanko's rule, report_signature):
# the form and the PAdES extension; the pages are compared one by one.
_CATALOG_MAY_CHANGE = {"/AcroForm", "/Extensions", "/Metadata", "/Version", "/Perms", "/Pages"}
_PAGE_COMPARED_APART = {"/Annots", "/Parent", "/Contents"}


def _get(dictionary: Any, key: str, default: Any = None) -> Any:
    """dictionary[key] followed through a reference (pypdf's get() does not follow it)."""
    value = dictionary.get(key, default)
    return value.get_object() if isinstance(value, IndirectObject) else value


def signature_dictionaries(reader: PdfReader) -> list[DictionaryObject]:
    """The /V of every signature field in the document's form."""
    form = _get(reader.trailer["/Root"], "/AcroForm")
    todo: list[Any] = list(_get(form, "/Fields", [])) if isinstance(form, DictionaryObject) else []
    found, seen = [], set()
    while todo:
        ref = todo.pop(0)
        if isinstance(ref, IndirectObject):
            if ref.idnum in seen:
                continue
            seen.add(ref.idnum)
        field = ref.get_object()
        if not isinstance(field, DictionaryObject):
            continue
        todo += list(_get(field, "/Kids", []))
        value = _get(field, "/V")
        if _get(field, "/FT") == "/Sig" and isinstance(value, DictionaryObject):
            found.append(value)
    return found


def _bytes(value: Any) -> bytes:
    """A PDF string's bytes (pypdf may have decoded a hex string as text)."""
    original = getattr(value, "original_bytes", None)
    return bytes(original if original is not None else value)


def signed_range(pdf: bytes, signature: DictionaryObject) -> tuple[bytes, bytes]:
    """(the signed bytes, the CMS object): the /ByteRange [0 a b c] must cover the whole file
    but the /Contents hex string, which holds the CMS."""
    numbers = _get(signature, "/ByteRange")
    start, a, b, c = (int(n) for n in numbers) if isinstance(numbers, ArrayObject) and len(
        numbers) == 4 else (-1, 0, 0, 0)
    if start != 0 or not 0 < a < b <= len(pdf) or c < 0:
        raise CmsError("the signature's /ByteRange is not [0 a b c] within the file")
    if b + c < len(pdf):
        raise CmsError(f"the file was changed after signing: {len(pdf) - b - c} bytes appended "
                       "after the signed range")
    if b + c > len(pdf):
        raise CmsError("the signature's /ByteRange runs past the end of the file")
    digits = re.sub(rb"\s", b"", pdf[a + 1:b - 1])
    if pdf[a:a + 1] != b"<" or pdf[b - 1:b] != b">" or len(digits) % 2 or \
            not re.fullmatch(rb"[0-9A-Fa-f]*", digits) or \
            bytes.fromhex(digits.decode("ascii")) != _bytes(_get(signature, "/Contents", b"")):
        raise CmsError("the signature's /ByteRange does not leave out exactly its /Contents")
    return pdf[:a] + pdf[b:], bytes.fromhex(digits.decode("ascii"))


def _name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _signer(cert: x509.Certificate) -> str:
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    return f"{_name(cert)!r} (certificate SHA-256 {fingerprint[:16]}...)"


def _timestamp(stamp: tuple[datetime, x509.Certificate] | None) -> str:
    if stamp is None:
        return "no timestamp"
    return f"timestamp {stamp[0].isoformat()} by TSA {_name(stamp[1])!r}"


def _verify(pdf: bytes, signature: DictionaryObject) -> str:
    """What the signature says when it holds: its signer and timestamp. CmsError if not."""
    try:
        content, cms = signed_range(pdf, signature)
        signed = verify_signed_data(cms, content)
        stamp = timestamp(signed)
    except CmsError:
        raise
    except (IndexError, TypeError, ValueError) as exc:  # not numbers, not a CMS SignedData
        raise CmsError(f"the signature cannot be read ({exc})") from None
    return (f"by {_signer(signed.certificate)}, intact, covering the whole file; "
            f"{_timestamp(stamp)}")


def check(pdf: bytes) -> tuple[bool | None, str]:
    """(ok, detail) as report_signature.check gives them: None for an unsigned PDF; False
    naming the problem; True naming each signer. The signer's certificate is named, not
    validated (no trust root, no revocation): compare its SHA-256 with the operator's."""
    if b"/ByteRange" not in pdf:
        return None, "not signed"
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        signatures = signature_dictionaries(reader)
    except Exception:  # noqa: BLE001 - an unreadable PDF has no signature to speak of
        return None, "not signed"
    if not signatures:
        return None, "not signed"
    signed: list[str] = []
    for number, signature in enumerate(signatures, start=1):
        try:
            signed.append(_verify(pdf, signature))
        except CmsError as exc:
            return False, f"signature {number}: {exc}"
    rewritten = rewritten_pages(reader, pdf)
    if rewritten is not None:
        return False, rewritten
    return True, "; ".join(f"signed {s}" for s in signed) + f" ({NOT_VALIDATED})"


def rewritten_pages(reader: PdfReader, pdf: bytes) -> str | None:
    """What the revisions after the rendered one change in what a page shows: its content
    stream, resources, boxes; an annotation other than an invisible signature field; the
    catalog beyond the form. None if nothing."""
    base = base_revision(pdf)
    if base == pdf:
        return "the signature is on the first revision"
    try:
        first = PdfReader(io.BytesIO(base), strict=False)
        before, after = first.pages, reader.pages
        if len(before) != len(after):
            return (f"the signature's revision changes the number of pages ({len(before)} -> "
                    f"{len(after)})")
        seen: set[tuple[int, int]] = set()
        for number, (old, new) in enumerate(zip(before, after, strict=True), start=1):
            what = _page_change(old, new, seen)
            if what is not None:
                return f"the signature's revision rewrites page {number} ({what})"
        return _catalog_change(first.trailer["/Root"], reader.trailer["/Root"], seen)
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on a damaged file
        return f"the signature's revision cannot be compared with the rendered report: {exc}"


def _contents(page: Any) -> bytes:
    stream = page.get_contents()
    return b"" if stream is None else bytes(stream.get_data())


def _page_change(old: Any, new: Any, seen: set[tuple[int, int]]) -> str | None:
    if _contents(old) != _contents(new):
        return "its content stream"
    for key in sorted((set(old) | set(new)) - _PAGE_COMPARED_APART):
        if key not in old or key not in new or not _same(old.raw_get(key), new.raw_get(key),
                                                         seen):
            return f"its {key}"
    was, now = list(_get(old, "/Annots") or []), list(_get(new, "/Annots") or [])
    if len(now) < len(was) or not all(_same(a, b, seen) for a, b in zip(was, now,
                                                                        strict=False)):
        return "its annotations"
    if not all(_invisible_signature(a.get_object()) for a in now[len(was):]):
        return "an annotation that is not an invisible signature field"
    return None


def _invisible_signature(annotation: Any) -> bool:
    """A signature field's widget that draws nothing: hidden, or a zero-area rectangle."""
    if not isinstance(annotation, DictionaryObject) or _get(annotation, "/Subtype") != "/Widget":
        return False
    parent = _get(annotation, "/Parent")
    kind = _get(annotation, "/FT") or (_get(parent, "/FT") if isinstance(parent, DictionaryObject)
                                     else None)
    rect = [float(n) for n in _get(annotation, "/Rect", [])]
    empty = len(rect) == 4 and (rect[0] == rect[2] or rect[1] == rect[3])
    return kind == "/Sig" and (empty or bool(int(_get(annotation, "/F", 0)) & 2))


def _catalog_change(old: Any, new: Any, seen: set[tuple[int, int]]) -> str | None:
    for key in sorted((set(old) | set(new)) - _CATALOG_MAY_CHANGE):
        if key not in old or key not in new or not _same(old.raw_get(key), new.raw_get(key),
                                                         seen):
            return f"the signature's revision changes the document catalog's {key}"
    return None


def _is_page(value: Any) -> bool:
    return isinstance(value, DictionaryObject) and _get(value, "/Type") == "/Page"


def _same(a: Any, b: Any, seen: set[tuple[int, int]]) -> bool:
    """Whether two objects (of the rendered revision and of the whole file) are the same,
    followed through references; a page met on the way is the same page if it is the same
    object (pages are compared apart)."""
    if isinstance(a, IndirectObject) and isinstance(b, IndirectObject):
        pair = (a.idnum, b.idnum)
        if pair in seen:
            return True
        seen.add(pair)
        if _is_page(a.get_object()) or _is_page(b.get_object()):
            return a.idnum == b.idnum and _is_page(a.get_object()) and _is_page(b.get_object())
    a, b = (v.get_object() if isinstance(v, IndirectObject) else v for v in (a, b))
    if isinstance(a, DictionaryObject) and isinstance(b, DictionaryObject):
        if isinstance(a, StreamObject) != isinstance(b, StreamObject) or set(a) != set(b):
            return False
        if isinstance(a, StreamObject) and isinstance(b, StreamObject) and a._data != b._data:
            return False  # the encoded bytes: with the same /Filter, the same decoded ones
        return all(_same(a.raw_get(k), b.raw_get(k), seen) for k in a)
    if isinstance(a, ArrayObject) and isinstance(b, ArrayObject):
        return len(a) == len(b) and all(_same(x, y, seen) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a is b or a == b or repr(a) == repr(b))
