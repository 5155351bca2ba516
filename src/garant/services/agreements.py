"""Loading an agreement file: parse YAML, validate, store, with errors an author can act on.

Each error names the file, the path inside the document (e.g. `zones[2].weapon_class`), the
line it sits on, and the reason. Lines come from PyYAML's composed node tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from garant.domain.agreement import Agreement, split_located_message
from garant.domain.paths import dotted_path
from garant.store.agreements import StoredAgreement, store_agreement
from garant.store.db import Database


@dataclass(frozen=True)
class AgreementProblem:
    path: str
    reason: str
    line: int | None = None

    def format(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {self.path or '(document)'}: {self.reason}"


class AgreementFileError(Exception):
    def __init__(self, file: str, problems: list[AgreementProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.format(file) for p in problems))


def _node_line(root: yaml.Node | None, path: list[int | str]) -> int | None:
    """1-based line of the node at `path` (or of its deepest existing ancestor)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in path:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _parse_path(path: str) -> list[int | str]:
    parts: list[int | str] = []
    for chunk in path.replace("]", "").split("."):
        name, *indexes = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return parts


def problems_from_agreement_validation(
    exc: ValidationError, root: yaml.Node | None
) -> list[AgreementProblem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if p not in ("Polygon", "MultiPolygon", "LineString", "MultiLineString")]
        loc = [p for p in loc if p not in ("buffer", "withdrawal", "airspace")]
        path = dotted_path(loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        inner, reason = split_located_message(msg)
        if inner:
            path = f"{path}.{inner}" if path else inner
        out.append(AgreementProblem(path, reason, _node_line(root, _parse_path(path))))
    return out


M = TypeVar("M", bound=BaseModel)


def parse_agreement_text(text: str, file: str = "<agreement>") -> Agreement:
    return parse_yaml_document(text, file, Agreement)


def parse_yaml_document(text: str, file: str, model: type[M]) -> M:
    """Parse and validate a YAML document into `model`; errors name the path and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise AgreementFileError(file, [AgreementProblem("", f"not valid YAML: {exc}", line)]) from exc
    if not isinstance(data, dict):
        raise AgreementFileError(file, [AgreementProblem("", "the document must be a mapping", 1)])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AgreementFileError(file, problems_from_agreement_validation(exc, root)) from exc


def read_agreement(reference: str) -> Agreement:
    """An agreement from a file, or `demo` for the demo agreement (commands that work on files)."""
    if reference == "demo":
        from garant.services.demo import demo_files

        path = demo_files()[0]
    else:
        path = Path(reference)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgreementFileError(str(path), [AgreementProblem("", f"cannot read: {exc.strerror}")]) from exc
    return parse_agreement_text(text, str(path))


def load_agreement_file(db: Database, path: Path) -> StoredAgreement:
    """Validate `path` and store it as a new version (the identical version again is a no-op)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgreementFileError(str(path), [AgreementProblem("", f"cannot read: {exc.strerror}")]) from exc
    agreement = parse_agreement_text(text, str(path))
    with db.write() as conn:
        return store_agreement(conn, agreement)
