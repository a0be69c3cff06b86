"""Every tracking limit and grammar has one home (app/tracking/limits.py): no module that checks
input spells one of its numbers or patterns again, nothing else defines its names, and the
README states the values the code enforces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from mlflow.utils import validation

from app.tracking import decimals, limits, metrics, paths

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
HOME = APP / "tracking" / "limits.py"
# Where input is checked: both APIs, the client and the domain rules.
CHECKERS = sorted(p for folder in ("api", "client", "tracking")
                  for p in (APP / folder).rglob("*.py")
                  if p != HOME)
CONSTANTS = {name: value for name, value in vars(limits).items()
             if name.isupper() and not name.startswith("_")}
# Numbers distinctive enough that any other occurrence in a checker is a second spelling.
DISTINCTIVE = {value for name, value in CONSTANTS.items()
               if isinstance(value, int) and name.startswith("MAX_") and value > 2000}
PATTERNS = [limits.KEY_PATTERN, limits.ATTRIBUTE_PATTERN, limits.SHA256_HEX,
            limits.IMAGE_DIGEST, limits.GIT_COMMIT]


def _int_value(node: ast.AST) -> int | None:
    """The integer a constant expression (1000, 2**63 - 1, -(2**63)) spells, else None."""
    if isinstance(node, ast.Constant):
        return node.value if type(node.value) is int else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_value(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Pow):
        left, right = _int_value(node.left), _int_value(node.right)
        if left is None or right is None or (isinstance(node.op, ast.Pow) and right > 128):
            return None
        return int(eval(compile(ast.Expression(node), "<limit>", "eval")))  # noqa: S307
    return None


def _spelled(path: Path) -> list[tuple[int, int]]:
    """(line, value) of every distinctive limit number written in the file."""
    found, seen = [], set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        value = _int_value(node)
        if value is not None and abs(value) in DISTINCTIVE | {abs(-limits.MAX_INT64 - 1)}:
            if node.lineno not in seen:  # 2**63 - 1 also holds the constant 2 and 63
                seen.add(node.lineno)
                found.append((node.lineno, value))
    return found


def test_the_checkers_spell_no_limit_number_again() -> None:
    assert {6000, 8000, 20_000, 100_000, 65_535, limits.MAX_INT64} <= DISTINCTIVE  # the test bites
    spelled = {str(p.relative_to(ROOT)): _spelled(p) for p in CHECKERS}
    assert {path: lines for path, lines in spelled.items() if lines} == {}


def test_the_scan_finds_a_second_spelling(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("TAG = 8000\nLOW = -(2**63)\nHIGH = 2**63 - 1\nSMALL = 250\n")
    assert _spelled(planted) == [(1, 8000), (2, -(2**63)), (3, 2**63 - 1)]


def test_no_other_module_defines_a_limit_name() -> None:
    defined = []
    for path in sorted(APP.rglob("*.py")):
        if path == HOME:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            defined += [f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                        for name in sorted(names & CONSTANTS.keys())]
    assert defined == []


def test_no_checker_respells_a_pattern() -> None:
    respelled = [f"{path.relative_to(ROOT)}: {pattern.pattern}" for path in CHECKERS
                 for pattern in PATTERNS
                 if pattern.pattern in path.read_text(encoding="utf-8")]
    assert respelled == []


@pytest.mark.parametrize("module", [limits, decimals, metrics, paths])
def test_the_rules_are_pure(module: object) -> None:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "re", "typing", "decimal", "urllib", "app"}
    assert {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("app")} <= {
        "app.tracking.limits", "app.tracking.decimals"}


def test_the_readme_states_the_enforced_limits() -> None:
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    stated = re.search(r"key ≤ ([\d,]+) characters, param value ≤ ([\d,]+), tag value ≤ ([\d,]+)",
                       text)
    assert stated is not None, "README: the Limits sentence of the /api/v1 section moved"
    numbers = tuple(int(n.replace(",", "")) for n in stated.groups())
    assert numbers == (limits.MAX_KEY, limits.MAX_PARAM_VALUE, limits.MAX_TAG_VALUE)


def test_mlflow_limits_are_mlflows() -> None:
    """Where MLflow documents a limit, ours is its (mlflow/utils/validation.py, the client's)."""
    assert (limits.MAX_KEY, limits.MAX_PARAM_VALUE, limits.MAX_TAG_VALUE) == (
        validation.MAX_ENTITY_KEY_LENGTH, validation.MAX_PARAM_VAL_LENGTH,
        validation.MAX_TAG_VAL_LENGTH)
    assert limits.MAX_EXPERIMENT_TAG_VALUE == validation.MAX_EXPERIMENT_TAG_VAL_LENGTH
    assert limits.MAX_REGISTRY_TAG_VALUE == validation.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
    assert limits.MAX_EXPERIMENT_NAME == validation.MAX_EXPERIMENT_NAME_LENGTH
    assert (limits.MAX_BATCH_METRICS, limits.MAX_BATCH_PARAMS, limits.MAX_BATCH_TAGS) == (
        validation.MAX_METRICS_PER_BATCH, validation.MAX_PARAMS_TAGS_PER_BATCH,
        validation.MAX_PARAMS_TAGS_PER_BATCH)
    assert (limits.MAX_DATASET_NAME, limits.MAX_DATASET_SOURCE) == (
        validation.MAX_DATASET_NAME_SIZE, validation.MAX_DATASET_SOURCE_SIZE)
    assert (limits.MAX_INPUT_TAG_KEY, limits.MAX_INPUT_TAG_VALUE) == (
        validation.MAX_INPUT_TAG_KEY_SIZE, validation.MAX_INPUT_TAG_VALUE_SIZE)
