"""`garant log verify` against a live server, and evidence bundles exported and verified offline."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from garant.cli import app
from garant.services.demo import demo_files
from garant.transparency.note import Checkpoint, Signer

from .conftest import LiveServer
from .factories import make

runner = CliRunner()


def _vkey(url: str) -> str:
    return str(httpx.get(url + "/api/v1/log/keys").json()["keys"][0]["vkey"])


def test_log_verify_trusts_then_demands_consistency(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GARANT_DATA_DIR", str(tmp_path / "client"))
    url, vkey = live_server.url, _vkey(live_server.url)
    state = tmp_path / "trusted.note"
    args = ["log", "verify", "--server", url, "--key", vkey, "--state", str(state)]

    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "first checkpoint trusted" in first.output

    batch = [make("osint", i) for i in range(4)]
    created = httpx.post(url + "/api/v1/observations", json=batch, headers=live_server.auth).json()
    new_id = created["results"][0]["id"]
    httpx.get(url + "/api/v1/log/proof/inclusion", params={"record_id": new_id})  # signs a checkpoint over it
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "consistent with the trusted size" in second.output

    wrong_key = Signer.generate(vkey.split("+")[0]).verifier().encode()
    refused = runner.invoke(
        app, ["log", "verify", "--server", url, "--key", wrong_key, "--state", str(state)]
    )
    assert refused.exit_code == 1
    assert "REJECTED" in refused.output


def test_log_verify_catches_a_log_that_rewrote_its_past(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client trusted a checkpoint of another history, signed with the log's own key (a
    split view, or history rewritten after the fact): the server cannot prove consistency."""
    monkeypatch.setenv("GARANT_DATA_DIR", str(tmp_path / "client"))
    url, vkey = live_server.url, _vkey(live_server.url)
    server_key = Signer.parse((live_server_key_dir(live_server) / "log.skey").read_text())
    size = httpx.get(url + "/api/v1/log/checkpoint").json()["tree_size"]
    forged = server_key.sign(Checkpoint(server_key.name, size - 5, hashlib.sha256(b"other").digest()).text())
    state = tmp_path / "trusted.note"
    state.write_text(forged)
    r = runner.invoke(app, ["log", "verify", "--server", url, "--key", vkey, "--state", str(state)])
    assert r.exit_code == 1
    assert "not consistent" in r.output
    assert state.read_text() == forged  # nothing trusted on failure

    bigger = server_key.sign(Checkpoint(server_key.name, size + 100, hashlib.sha256(b"x").digest()).text())
    state.write_text(bigger)
    r = runner.invoke(app, ["log", "verify", "--server", url, "--key", vkey, "--state", str(state)])
    assert r.exit_code == 1
    assert "smaller than the trusted" in r.output


def live_server_key_dir(server: LiveServer) -> Path:
    """The live server's data folder is the test's tmp_path (see conftest._serve)."""
    url = server.db.url
    return Path(url.removeprefix("sqlite:///")).parent / "keys"


# --- evidence bundles ----------------------------------------------------------------------


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path]:
    """A bundle of three observations (one with an attachment file) and the agreement."""
    monkeypatch.setenv("GARANT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GARANT_DATABASE_URL", f"sqlite:///{tmp_path / 'garant.db'}")
    assert runner.invoke(app, ["agreement", "load", str(demo_files()[0])]).exit_code == 0
    photo = b"\xff\xd8 a photograph of a crater"
    digest = hashlib.sha256(photo).hexdigest()
    attachments = tmp_path / "files"
    attachments.mkdir()
    (attachments / digest).write_bytes(photo)
    items = [
        make("crater", 0, attachments=[{"sha256": digest, "media_type": "image/jpeg"}]),
        make("crater", 1, attachments=[{"sha256": "b" * 64, "media_type": "image/jpeg"}]),
        make("sighting", 2),
    ]
    src = tmp_path / "obs.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(i) for i in items) + b"\n")
    assert runner.invoke(app, ["ingest", str(src)]).exit_code == 0
    listing = runner.invoke(app, ["log", "checkpoint"])
    assert listing.exit_code == 0
    from garant.store.db import open_database

    db = open_database(f"sqlite:///{tmp_path / 'garant.db'}")
    with db.read() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM observations ORDER BY seq")]
        agreement_key = conn.exec_driver_sql("SELECT key FROM agreements").scalar_one()
    db.dispose()
    out = tmp_path / "case-17.zip"
    args = [
        "bundle",
        "export",
        "--out",
        str(out),
        "--attachments",
        str(attachments),
        "--agreement",
        agreement_key,
    ]
    for i in ids:
        args += ["--id", i]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "4 records, 1 of 2 attachments included" in r.output
    vkey = (tmp_path / "keys" / "trusted.vkeys").read_text().splitlines()[0]
    return out, vkey, tmp_path


def test_a_bundle_verifies_offline_with_the_standalone_module(exported: tuple[Path, str, Path]) -> None:
    bundle, vkey, tmp_path = exported
    r = runner.invoke(app, ["bundle", "verify", str(bundle), "--key", vkey])
    assert r.exit_code == 0, r.output
    assert "records verified: 4" in r.output and "attachments verified: 1" in r.output
    # as a party's lawyer would run it: no database, no server, no Garant settings
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    check = (
        "import sys, garant.transparency.bundle as b; "
        "assert not any(m.startswith(('sqlalchemy', 'garant.store', 'garant.services', 'fastapi')) "
        "for m in sys.modules), 'the verifier pulled in the store'; "
        "sys.exit(b.main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(bundle), "--key", vkey],
        cwd=tmp_path / "files",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bundle OK" in done.stdout


def _rewrite(bundle: Path, change: Callable[[dict[str, bytes]], None]) -> io.BytesIO:
    with zipfile.ZipFile(bundle) as z:
        members = {n: z.read(n) for n in z.namelist()}
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    out.seek(0)
    return out


def _manifest_edit(edit: Callable[[dict[str, object]], None]) -> Callable[[dict[str, bytes]], None]:
    def change(m: dict[str, bytes]) -> None:
        doc = orjson.loads(m["manifest.json"])
        edit(doc)
        m["manifest.json"] = orjson.dumps(doc)

    return change


def _set(m: dict[str, bytes], name: str, data: bytes) -> None:
    m[name] = data


TAMPERINGS: dict[str, tuple[Callable[[dict[str, bytes]], None], str]] = {
    "a record's content": (
        lambda m: _set(m, "records/1.json", m["records/1.json"].replace(b'"nation":"US"', b'"nation":"UA"')),
        "record 1",
    ),
    "a record re-serialised": (
        lambda m: _set(
            m, "records/2.json", orjson.dumps(orjson.loads(m["records/2.json"]), option=orjson.OPT_INDENT_2)
        ),
        "not in RFC 8785 canonical form",
    ),
    "two records swapped": (
        lambda m: m.update({"records/1.json": m["records/2.json"], "records/2.json": m["records/1.json"]}),
        "record 1",
    ),
    "a leaf index": (
        _manifest_edit(lambda d: d["records"][0].update(leaf_index=d["records"][0]["leaf_index"] + 1)),
        "record 0",
    ),  # type: ignore[index]
    "a proof hash": (
        _manifest_edit(lambda d: d["records"][3]["inclusion_proof"].__setitem__(0, "A" * 43 + "=")),  # type: ignore[index]
        "record 3",
    ),
    "the checkpoint's root": (
        lambda m: _set(m, "checkpoint.note", m["checkpoint.note"].replace(b"\n", b"\nX", 1)),
        "checkpoint.note",
    ),
    "the checkpoint removed": (lambda m: m.pop("checkpoint.note"), "checkpoint.note"),
    "an attachment's bytes": (
        lambda m: m.update({k: v + b"!" for k, v in m.items() if k.startswith("attachments/")}),
        "attachment",
    ),
    "a record file removed": (lambda m: m.pop("records/0.json"), "record 0"),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_a_tampered_bundle_fails_and_says_what(exported: tuple[Path, str, Path], what: str) -> None:
    from garant.transparency.bundle import load_verifiers, verify_bundle

    bundle, vkey, _ = exported
    change, expected = TAMPERINGS[what]
    report = verify_bundle(_rewrite(bundle, change), load_verifiers([vkey]))
    assert not report.ok
    assert any(expected in f for f in report.failures), report.failures


def test_a_bundle_checked_with_another_key_fails(exported: tuple[Path, str, Path]) -> None:
    bundle, vkey, _ = exported
    other = Signer.generate(vkey.split("+")[0]).verifier().encode()
    r = runner.invoke(app, ["bundle", "verify", str(bundle), "--key", other])
    assert r.exit_code == 1
    assert "not signed by a trusted key" in r.output
