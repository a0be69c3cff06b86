"""Tests for app.ledger.checkpoint: C2SP checkpoints as Ed25519 signed notes."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    InvalidKeyError,
    MalformedNoteError,
    SignatureError,
    Signer,
    UnknownKeyError,
    VerifierKey,
    key_id,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
    verify_note,
)

EM = "\u2014"
ZERO_ROOT64 = base64.b64encode(bytes(32)).decode()
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 hash of the empty tree

# --- Interoperability vectors ------------------------------------------------------------
# golang/mod sumdb/note/note.go (package doc), note_test.go (TestNewVerifier, TestNewSigner,
# TestSign, TestOpen) and example_test.go: produced by Go's reference implementation.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + PETER_SIG

# A real checkpoint signed by sum.golang.org (Go's own signer), retrieved from
# https://sum.golang.org/latest on 2024-09-23, as quoted in sigsum/sigsum-go
# pkg/checkpoint/checkpoint_test.go (TestGoSumDBCheckpoint). The key is the one the Go
# toolchain trusts: golang/go src/cmd/go/internal/modfetch/key.go.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_BODY = "go.sum database tree\n30055305\nmXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n"
SUMDB_NOTE = (
    SUMDB_BODY
    + "\n"
    + f"{EM} sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFc"
    "AAlWFJJYle3EJlDCrQ+y3A8=\n"
)

# The example in C2SP/C2SP signed-note.md ("Verifier keys" / "Example").
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3"
    "mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def make_signer(name: str = "log.example/ledger") -> Signer:
    return Signer(name, Ed25519PrivateKey.generate())


def sample_checkpoint(**overrides: object) -> Checkpoint:
    fields: dict[str, object] = {
        "origin": "log.example/ledger",
        "tree_size": 42,
        "root_hash": hashlib.sha256(b"root").digest(),
    }
    fields.update(overrides)
    return Checkpoint(**fields)  # type: ignore[arg-type]


def body_text(size: str = "42", root: str | None = None, origin: str = "o") -> bytes:
    root = root if root is not None else base64.b64encode(bytes(32)).decode()
    return f"{origin}\n{size}\n{root}\n".encode()


def resign_line(line: str, mutate: int) -> str:
    """Flip one byte (at index mutate) of the decoded signature blob in a signature line."""
    prefix, _, sig64 = line.rstrip("\n").rpartition(" ")
    blob = bytearray(base64.b64decode(sig64))
    blob[mutate] ^= 0x01
    return f"{prefix} {base64.b64encode(bytes(blob)).decode()}\n"


# --- Go interop --------------------------------------------------------------------------


def test_go_verifier_key_parses_and_key_id_recomputes() -> None:
    key = VerifierKey.from_string(PETER_VKEY)
    assert key.name == "PeterNeumann"
    assert key.key_id == 0xC74F20A3
    assert len(key.public_key) == 32
    assert key_id(key.name, key.public_key) == 0xC74F20A3
    assert key.to_string() == PETER_VKEY
    assert VerifierKey.from_public_key("PeterNeumann", key.public_key) == key


def test_go_signed_note_verifies() -> None:
    peter = VerifierKey.from_string(PETER_VKEY)
    body, verified = verify_note(GO_NOTE, [peter])
    assert body == GO_TEXT.encode()
    assert verified == [peter]
    assert verify_note(GO_NOTE.encode(), [peter]) == (body, verified)


def test_go_signing_key_reproduces_go_signature_exactly() -> None:
    blob = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert blob[0] == 0x01
    signer = Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(blob[1:]))
    assert signer.verifier_key.to_string() == PETER_VKEY
    assert signer.sign(GO_TEXT.encode()) == PETER_SIG.encode()


def test_go_note_with_known_and_unknown_signatures() -> None:
    peter = VerifierKey.from_string(PETER_VKEY)
    enoch = VerifierKey.from_string(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verify_note(note, [peter])[1] == [peter]
    assert verify_note(note, [enoch])[1] == [enoch]
    assert verify_note(note, [enoch, peter])[1] == [peter, enoch]
    with pytest.raises(UnknownKeyError):
        verify_note(note, [])


def test_go_corrupted_signature_is_rejected() -> None:
    peter = VerifierKey.from_string(PETER_VKEY)
    bad = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureError):
        verify_note(bad, [peter])


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT + "\n" + f"{EM} Bad Name " + PETER_SIG.split(" ")[2],
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_messages(msg: str) -> None:
    with pytest.raises(MalformedNoteError):
        verify_note(msg, [VerifierKey.from_string(PETER_VKEY)])


def test_go_invalid_utf8_is_malformed() -> None:
    msg = b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode()
    with pytest.raises(MalformedNoteError):
        verify_note(msg, [VerifierKey.from_string(PETER_VKEY)])


def test_go_verifier_key_manglings_are_rejected() -> None:
    vkey = PETER_VKEY
    bad: list[str] = []
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                bad.append(vkey[i:j])
    bad += [vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :] for i in range(len(vkey))]
    # From note_test.go: wrong key length / unknown algorithm, each with an adjusted key hash.
    bad.append("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    bad.append("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    for s in bad:
        with pytest.raises(InvalidKeyError):
            VerifierKey.from_string(s)


def test_verifier_key_rejects_uppercase_hex_id() -> None:
    with pytest.raises(InvalidKeyError):
        VerifierKey.from_string(PETER_VKEY.replace("c74f20a3", "C74F20A3"))


def test_sum_golang_org_checkpoint_opens() -> None:
    key = VerifierKey.from_string(SUMDB_VKEY)
    assert key.to_string() == SUMDB_VKEY  # base64 part itself contains "+"
    assert key.key_id == key_id("sum.golang.org", key.public_key) == 0x033DE0AE
    checkpoint, verified = open_note(SUMDB_NOTE, [key])
    assert verified == [key]
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.tree_size == 30055305
    assert checkpoint.root_hash == base64.b64decode("mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == SUMDB_BODY.encode()


def test_c2sp_spec_example_verifies() -> None:
    key = VerifierKey.from_string(C2SP_VKEY)
    assert key.key_id == 0x530D903A
    assert verify_note(C2SP_NOTE, [key]) == (b"This is an example message.\n", [key])


# --- Round trips -------------------------------------------------------------------------


def test_round_trip_with_fresh_key() -> None:
    signer = make_signer()
    checkpoint = sample_checkpoint()
    note = sign_checkpoint(checkpoint, [signer])
    assert note == checkpoint.body().decode() + "\n" + signer.sign(checkpoint.body()).decode()
    opened, verified = open_note(note, [signer.verifier_key])
    assert opened == checkpoint
    assert verified == [signer.verifier_key]
    assert parse_checkpoint(checkpoint.body()) == checkpoint
    assert open_note(note.encode(), [signer.verifier_key])[0] == checkpoint


def test_body_format_is_exact() -> None:
    root = bytes(range(32))
    checkpoint = Checkpoint("example.com/log42", 20852163, root)
    expected = f"example.com/log42\n20852163\n{base64.b64encode(root).decode()}\n"
    assert checkpoint.body() == expected.encode()


def test_empty_tree_checkpoint() -> None:
    signer = make_signer()
    checkpoint = Checkpoint("log.example/ledger", 0, EMPTY_ROOT)
    assert checkpoint.body() == (
        b"log.example/ledger\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    )
    opened, _ = open_note(sign_checkpoint(checkpoint, [signer]), [signer.verifier_key])
    assert opened == checkpoint


def test_extension_lines_are_kept() -> None:
    signer = make_signer()
    checkpoint = sample_checkpoint(extensions=("ext one", "\u2014 looks like a signature"))
    note = sign_checkpoint(checkpoint, [signer])
    opened, _ = open_note(note, [signer.verifier_key])
    assert opened.extensions == ("ext one", "\u2014 looks like a signature")
    assert opened.body() == checkpoint.body()
    assert parse_checkpoint(body_text() + b"a\nb c\n").extensions == ("a", "b c")


def test_flipping_any_body_byte_fails() -> None:
    signer = make_signer()
    note = sign_checkpoint(sample_checkpoint(), [signer]).encode()
    body_len = len(sample_checkpoint().body())
    for i in range(body_len):
        mutated = bytearray(note)
        mutated[i] ^= 0x01
        expected = SignatureError if 0x20 <= mutated[i] < 0x7F else CheckpointError
        with pytest.raises(expected):
            open_note(bytes(mutated), [signer.verifier_key])


def test_flipping_any_signature_byte_fails() -> None:
    signer = make_signer()
    body = sample_checkpoint().body().decode()
    line = signer.sign(body.encode()).decode()
    for i in range(4 + 64):
        note = body + "\n" + resign_line(line, i)
        expected = UnknownKeyError if i < 4 else SignatureError
        with pytest.raises(expected):
            open_note(note, [signer.verifier_key])


def test_flipping_signature_text_characters_fails() -> None:
    signer = make_signer()
    note = sign_checkpoint(sample_checkpoint(), [signer])
    start = note.rindex(" ") + 1
    original = base64.b64decode(note[start:-1])
    for i in range(start, len(note) - 1):
        swapped = "B" if note[i] == "A" else "A"
        changed = note[:i] + swapped + note[i + 1 :]
        if base64.b64decode(changed[start:-1]) == original:
            continue  # the flip only touched base64 padding bits: the same signature bytes
        with pytest.raises(CheckpointError):
            open_note(changed, [signer.verifier_key])


SIGNER_FOR_PROPERTY = make_signer()


@settings(max_examples=40, deadline=None)
@given(
    origin=st.text(
        st.characters(exclude_categories=["Cs"], min_codepoint=0x20), min_size=1, max_size=40
    ),
    tree_size=st.integers(min_value=0, max_value=2**63 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
)
def test_round_trip_property(origin: str, tree_size: int, root_hash: bytes) -> None:
    signer = SIGNER_FOR_PROPERTY
    checkpoint = Checkpoint(origin, tree_size, root_hash)
    opened, _ = open_note(sign_checkpoint(checkpoint, [signer]), [signer.verifier_key])
    assert opened == checkpoint


# --- Key rotation and multiple signatures ------------------------------------------------


def test_key_rotation_with_historical_verifier_set() -> None:
    key_a, key_b = make_signer(), make_signer()  # same log name, rotated key
    assert key_a.verifier_key.key_id != key_b.verifier_key.key_id
    both = [key_a.verifier_key, key_b.verifier_key]
    old = sign_checkpoint(sample_checkpoint(tree_size=1), [key_a])
    new = sign_checkpoint(sample_checkpoint(tree_size=2), [key_b])
    assert open_note(old, both) == (sample_checkpoint(tree_size=1), [key_a.verifier_key])
    assert open_note(new, both) == (sample_checkpoint(tree_size=2), [key_b.verifier_key])
    with pytest.raises(UnknownKeyError):
        open_note(old, [key_b.verifier_key])


def test_known_and_unknown_signatures_verify() -> None:
    known, unknown = make_signer("log.example/a"), make_signer("witness.example/w")
    note = sign_checkpoint(sample_checkpoint(), [unknown, known])
    checkpoint, verified = open_note(note, [known.verifier_key])
    assert checkpoint == sample_checkpoint()
    assert verified == [known.verifier_key]


def test_corrupt_known_signature_fails_even_if_another_known_key_verified() -> None:
    good, other = make_signer("log.example/a"), make_signer("log.example/b")
    body = sample_checkpoint().body()
    bad_line = resign_line(other.sign(body).decode(), 10)
    note = body.decode() + "\n" + good.sign(body).decode() + bad_line
    with pytest.raises(SignatureError):
        open_note(note, [good.verifier_key, other.verifier_key])
    # The same note verifies for a client that does not know the second key.
    assert open_note(note, [good.verifier_key])[1] == [good.verifier_key]


def test_unknown_key_sharing_only_name_or_only_id_is_ignored() -> None:
    signer = make_signer("log.example/a")
    note = sign_checkpoint(sample_checkpoint(), [signer])
    same_name = make_signer("log.example/a").verifier_key
    with pytest.raises(UnknownKeyError):
        open_note(note, [same_name])
    renamed = note.replace(f"{EM} log.example/a ", f"{EM} log.example/z ")
    with pytest.raises(UnknownKeyError):
        open_note(renamed, [signer.verifier_key])


def test_known_key_with_wrong_signature_length_fails() -> None:
    signer = make_signer()
    body = sample_checkpoint().body()
    blob = signer.verifier_key.key_id.to_bytes(4, "big") + bytes(63)
    note = body.decode() + f"\n{EM} {signer.name} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(SignatureError):
        open_note(note, [signer.verifier_key])


def test_duplicate_signatures_report_key_once() -> None:
    signer = make_signer()
    note = sign_checkpoint(sample_checkpoint(), [signer, signer])
    keys = [signer.verifier_key, signer.verifier_key]
    assert open_note(note, keys)[1] == [signer.verifier_key]


def test_signature_count_limit() -> None:
    signer = make_signer()
    body = sample_checkpoint().body().decode()
    line = signer.sign(body.encode()).decode()
    assert open_note(body + "\n" + line * 100, [signer.verifier_key])[0] == sample_checkpoint()
    with pytest.raises(MalformedNoteError):
        open_note(body + "\n" + line * 101, [signer.verifier_key])
    with pytest.raises(MalformedNoteError):
        sign_checkpoint(sample_checkpoint(), [signer] * 101)
    with pytest.raises(MalformedNoteError):
        sign_checkpoint(sample_checkpoint(), [])


def test_text_is_split_at_last_blank_line() -> None:
    signer = make_signer()
    text = b"first paragraph\n\nsecond paragraph\n"
    body, verified = verify_note(text + b"\n" + signer.sign(text), [signer.verifier_key])
    assert body == text
    assert verified == [signer.verifier_key]


# --- Malformed checkpoint bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        body_text().rstrip(b"\n"),  # missing trailing newline
        b"",
        b"o\n42\n",  # too few lines
        body_text(origin=""),
        body_text(size="forty-two"),
        body_text(size="01"),
        body_text(size="00"),
        body_text(size="-1"),
        body_text(size="+1"),
        body_text(size=" 1"),
        body_text(size="1.0"),
        body_text(size=""),
        body_text(size="\u0664\u0662"),  # Arabic-Indic digits
        body_text(size=str(2**63)),
        body_text(size="9" * 5000),
        body_text(root="not base64!"),
        body_text(root=base64.b64encode(bytes(32)).decode().rstrip("=")),  # unpadded
        body_text(root=base64.urlsafe_b64encode(b"\xff" * 32).decode()),  # URL alphabet
        body_text(root="A" * 42 + "B="),  # non-canonical
        body_text(root=base64.b64encode(bytes(31)).decode()),
        body_text(root=base64.b64encode(bytes(33)).decode()),
        body_text(root=""),
        body_text() + b"\n",  # empty extension line
        body_text() + b"ext\tline\n",  # control character
        b"o\r\n42\n" + body_text()[5:],
        b"\xff" + body_text(),  # invalid UTF-8
        b"o\xed\xa0\x80" + body_text()[1:],  # UTF-8 surrogate
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        parse_checkpoint(body)


def test_malformed_body_in_valid_signed_note() -> None:
    signer = make_signer()
    body = body_text(size="01")
    note = body + b"\n" + signer.sign(body)
    assert verify_note(note, [signer.verifier_key])[0] == body
    with pytest.raises(MalformedNoteError):
        open_note(note, [signer.verifier_key])


def test_checkpoint_constructor_validates() -> None:
    root = bytes(32)
    for args in [
        ("", 1, root),
        ("a\nb", 1, root),
        ("o", -1, root),
        ("o", 2**63, root),
        ("o", True, root),
        ("o", 1, bytes(31)),
        ("o\ud800", 1, root),
    ]:
        with pytest.raises(MalformedNoteError):
            Checkpoint(*args)
    for ext in [("",), ("a\nb",), ("a\x00",)]:
        with pytest.raises(MalformedNoteError):
            Checkpoint("o", 1, root, ext)


# --- Keys and names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\u2028b"]
)
def test_invalid_key_names(name: str) -> None:
    public_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(InvalidKeyError):
        VerifierKey.from_public_key(name, public_key)
    with pytest.raises(InvalidKeyError):
        Signer(name, Ed25519PrivateKey.generate())
    with pytest.raises(InvalidKeyError):
        key_id(name, public_key)


def test_every_unicode_space_is_rejected_in_names() -> None:
    public_key = bytes(range(32))
    # Go's unicode.IsSpace == Python's str.isspace() minus the separators U+001C..U+001F.
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace() and not 0x1C <= c <= 0x1F]
    assert len(spaces) == 25
    for ch in spaces:
        with pytest.raises(InvalidKeyError):
            VerifierKey.from_public_key(f"a{ch}b", public_key)


def test_unicode_names_without_spaces_are_valid() -> None:
    signer = make_signer("t\u00e9l\u00e9/\u65e5\u672c")
    note = sign_checkpoint(sample_checkpoint(), [signer])
    assert open_note(note, [signer.verifier_key])[1] == [signer.verifier_key]
    assert VerifierKey.from_string(signer.verifier_key.to_string()) == signer.verifier_key


def test_key_id_definition() -> None:
    public_key = bytes(range(32))
    digest = hashlib.sha256(b"example.com/foo\n\x01" + public_key).digest()
    assert key_id("example.com/foo", public_key) == int.from_bytes(digest[:4], "big")
    with pytest.raises(InvalidKeyError):
        key_id("example.com/foo", public_key[:31])


def test_verifier_key_validates_fields() -> None:
    public_key = bytes(range(32))
    good = VerifierKey.from_public_key("n", public_key)
    with pytest.raises(InvalidKeyError):
        VerifierKey("n", good.key_id ^ 1, public_key)
    with pytest.raises(InvalidKeyError):
        VerifierKey("n", good.key_id, public_key + b"\x00")
    assert good.to_string().split("+")[1] == f"{good.key_id:08x}"


def test_signer_rejects_invalid_body() -> None:
    signer = make_signer()
    with pytest.raises(MalformedNoteError):
        signer.sign(b"no final newline")
    with pytest.raises(MalformedNoteError):
        signer.sign(b"control\x07\n")
    assert "PRIVATE" not in repr(signer)
