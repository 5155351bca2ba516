"""Evidence bundles: records with their inclusion proofs and a signed checkpoint, in one zip.

A bundle lets anyone check, offline, that each record is exactly what the log committed to:
no database, no network, no Garant server. This module depends only on the standard
library, `cryptography`, `orjson` and `rfc8785` (through the rest of `garant.transparency`),
so a party's lawyer can run it alone:

    python -m garant.transparency.bundle BUNDLE.zip --key 'origin+1a2b3c4d+AbC...'

Layout (format `garant-evidence-bundle/1`):
- `manifest.json`: origin, tree size, and per record its type, id, leaf index, leaf hash,
  inclusion proof (base64 hashes) and the attachments it names (SHA-256, media type);
- `checkpoint.note`: the signed checkpoint (C2SP signed note) the proofs lead to;
- `records/<n>.json`: each record's leaf data, byte for byte (RFC 8785 canonical JSON);
- `attachments/<sha256>`: attachment files, when the exporter had them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from garant.transparency import merkle
from garant.transparency.canonical import canonical_bytes
from garant.transparency.note import NoteError, Verifier, open_checkpoint

FORMAT = "garant-evidence-bundle/1"
MAX_MEMBER_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class BundleRecord:
    record_type: str
    record_id: str
    leaf_index: int
    data: bytes
    proof: list[bytes]
    attachments: list[dict[str, Any]] = field(default_factory=list)


def attachments_of(data: bytes) -> list[dict[str, Any]]:
    """The attachments a record names (observations carry them in their payload)."""
    doc = orjson.loads(data)
    payload = doc.get("payload") if isinstance(doc, dict) else None
    found = payload.get("attachments", []) if isinstance(payload, dict) else []
    return [a for a in found if isinstance(a, dict) and isinstance(a.get("sha256"), str)]


def write_bundle(
    out: Path | io.BytesIO,
    origin: str,
    checkpoint_note: str,
    tree_size: int,
    records: Sequence[BundleRecord],
    attachment_files: dict[str, bytes] | None = None,
) -> None:
    manifest = {
        "format": FORMAT,
        "origin": origin,
        "tree_size": tree_size,
        "records": [
            {
                "record_type": r.record_type,
                "record_id": r.record_id,
                "leaf_index": r.leaf_index,
                "file": f"records/{n}.json",
                "leaf_hash": merkle.leaf_hash(r.data).hex(),
                "inclusion_proof": [base64.b64encode(h).decode() for h in r.proof],
                "attachments": r.attachments,
            }
            for n, r in enumerate(records)
        ],
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        z.writestr("checkpoint.note", checkpoint_note)
        for n, r in enumerate(records):
            z.writestr(f"records/{n}.json", r.data)
        for digest, content in sorted((attachment_files or {}).items()):
            z.writestr(f"attachments/{digest}", content)


@dataclass
class BundleReport:
    origin: str = ""
    tree_size: int = 0
    records_verified: int = 0
    attachments_verified: int = 0
    attachments_absent: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.records_verified > 0


def _read(z: zipfile.ZipFile, name: str) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"{name} is larger than {MAX_MEMBER_BYTES} bytes")
    return z.read(name)


def verify_bundle(source: Path | io.BytesIO, verifiers: list[Verifier]) -> BundleReport:
    """Check every record of a bundle against its signed checkpoint; say exactly what fails."""
    report = BundleReport()
    try:
        z = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        report.failures.append(f"not a readable bundle: {exc}")
        return report
    with z:
        names = set(z.namelist())
        try:
            manifest = orjson.loads(_read(z, "manifest.json"))
            note = _read(z, "checkpoint.note").decode()
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            report.failures.append(f"manifest.json or checkpoint.note missing or unreadable: {exc}")
            return report
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            report.failures.append(f"manifest.json is not a {FORMAT} manifest")
            return report
        report.origin = str(manifest.get("origin", ""))
        try:
            checkpoint, _ = open_checkpoint(note, verifiers, report.origin)
        except NoteError as exc:
            report.failures.append(f"checkpoint.note: {exc}")
            return report
        report.tree_size = checkpoint.size
        if manifest.get("tree_size") != checkpoint.size:
            report.failures.append(
                f"manifest.json says tree size {manifest.get('tree_size')}; the checkpoint, {checkpoint.size}"
            )
        entries = manifest.get("records")
        if not isinstance(entries, list) or not entries:
            report.failures.append("manifest.json lists no records")
            return report
        for n, entry in enumerate(entries):
            _verify_record(z, names, n, entry, checkpoint.size, checkpoint.root_hash, report)
    return report


def _verify_record(
    z: zipfile.ZipFile,
    names: set[str],
    n: int,
    entry: Any,
    size: int,
    root: bytes,
    report: BundleReport,
) -> None:
    if not isinstance(entry, dict):
        report.failures.append(f"record {n}: manifest entry is not an object")
        return
    label = f"record {n} ({entry.get('record_type')} {entry.get('record_id')})"
    file = entry.get("file")
    if not isinstance(file, str) or file not in names:
        report.failures.append(f"{label}: its file {file!r} is not in the bundle")
        return
    data = _read(z, file)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        report.failures.append(f"{label}: {file} is not JSON")
        return
    if canonical_bytes(doc) != data:
        report.failures.append(f"{label}: {file} is not in RFC 8785 canonical form: it was edited")
        return
    if doc.get("record_type") != entry.get("record_type"):
        report.failures.append(f"{label}: {file} is a {doc.get('record_type')!r} record")
    if entry.get("leaf_hash") != merkle.leaf_hash(data).hex():
        report.failures.append(f"{label}: {file} does not hash to the leaf hash in the manifest")
    try:
        proof = [base64.b64decode(h, validate=True) for h in entry.get("inclusion_proof", [])]
        index = entry.get("leaf_index")
        if not isinstance(index, int):
            raise merkle.ProofError("leaf_index is not an integer")
        merkle.verify_inclusion(index, size, merkle.leaf_hash(data), proof, root)
    except (ValueError, TypeError) as exc:
        report.failures.append(f"{label}: inclusion proof fails: {exc}")
        return
    report.records_verified += 1
    for att in attachments_of(data):
        digest = att["sha256"]
        member = f"attachments/{digest}"
        if member not in names:
            report.attachments_absent += 1
            continue
        if hashlib.sha256(_read(z, member)).hexdigest() != digest:
            report.failures.append(f"{label}: attachment {digest} in the bundle does not have that SHA-256")
        else:
            report.attachments_verified += 1


def format_report(report: BundleReport) -> str:
    lines = [
        f"origin {report.origin}, checkpoint size {report.tree_size}",
        f"records verified: {report.records_verified}",
        f"attachments verified: {report.attachments_verified}, "
        f"named but not included: {report.attachments_absent}",
    ]
    lines += [f"FAIL {f}" for f in report.failures]
    lines.append("bundle OK" if report.ok else "bundle NOT verified")
    return "\n".join(lines)


def load_verifiers(keys: Sequence[str]) -> list[Verifier]:
    """Verifier keys given as text or as files holding one key per line."""
    out = []
    for key in keys:
        path = Path(key)
        lines = path.read_text().splitlines() if path.is_file() else [key]
        out += [Verifier.parse(line) for line in lines if line.strip()]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Garant evidence bundle offline.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument(
        "--key", action="append", required=True, help="trusted verifier key, or a file of them"
    )
    args = parser.parse_args(argv)
    try:
        verifiers = load_verifiers(args.key)
    except (NoteError, OSError) as exc:
        print(f"bad key: {exc}", file=sys.stderr)
        return 2
    report = verify_bundle(args.bundle, verifiers)
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
