"""What the PAdES signature costs an issued report: signing time and the bytes it adds.

Signs the test suite's factory model report (tests/pdf_reports/model_factory.py: three
versions, gates, decisions, deployments) --rounds times with a self-signed RSA-3072 pair made
on the spot (as `mlaudit init` makes it), without and with an RFC 3161 timestamp from a local
TSA (tests/pki.py, a thread in this process: the TSA's round trip is included, a remote TSA's
network latency is not), and validates the result once with pyHanko's validator and once with
the light check the standalone verifier runs without pyHanko.

Run from the repository root:  .venv/bin/python bench/report_signing.py  [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "pdf_reports")]

from model_factory import make_model_evidence  # noqa: E402
from pki import time_stamping_authority  # noqa: E402

from app.services import report_signature, report_signature_light, report_signing  # noqa: E402
from reports.render import render_model_report  # noqa: E402


def _measure(signer: report_signing.ReportSigner, pdf: bytes, rounds: int,
             tsa_url: str | None) -> tuple[list[float], bytes]:
    times, signed = [], b""
    for _ in range(rounds):
        start = time.perf_counter()
        signed = signer.sign(pdf, "0" * 64, "mlaudit.example.com/ledger", tsa_url)
        times.append(time.perf_counter() - start)
    return times, signed


def _line(label: str, times: list[float], pdf: bytes, signed: bytes) -> str:
    ok, detail = report_signature.check(signed)
    assert ok and report_signature.base_revision(signed) == pdf, detail
    return (f"{label:<22} median {statistics.median(times) * 1000:6.1f} ms  "
            f"max {max(times) * 1000:6.1f} ms  adds {len(signed) - len(pdf):6,d} bytes "
            f"({len(pdf):,d} -> {len(signed):,d})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    evidence, bundle = make_model_evidence()
    pdf = render_model_report(evidence, bundle)
    with tempfile.TemporaryDirectory() as home:
        files = report_signing.SigningFiles(Path(home) / "key.pem", Path(home) / "cert.pem",
                                            False)
        start = time.perf_counter()
        report_signing.ensure_self_signed(files, "mlaudit.example.com/ledger")
        made = time.perf_counter() - start
        signer = report_signing.signer_for(files)
        _measure(signer, pdf, 2, None)  # warm-up: imports, first signature
        print(f"self-signed RSA-{report_signing.RSA_BITS} pair made in {made * 1000:.0f} ms")
        times, signed = _measure(signer, pdf, rounds, None)
        print(_line("signature (B-B)", times, pdf, signed))
        with time_stamping_authority() as (url, _, _):
            times, signed = _measure(signer, pdf, rounds, url)
            print(_line("with timestamp (B-T)", times, pdf, signed))
        _checks(signed)


def _checks(signed: bytes) -> None:
    """verify-report's signature check, with pyHanko and without (the standalone verifier)."""
    for label, check in (("verify-report's signature check", report_signature.check),
                         ("... without pyHanko (light)", report_signature_light.check)):
        start = time.perf_counter()
        ok, detail = check(signed)
        assert ok, detail
        print(f"{label:<32} {(time.perf_counter() - start) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
