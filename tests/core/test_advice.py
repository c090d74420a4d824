"""The tool's own advice (the ``cli`` and ``app`` of every warning and error) reads as text.

A spreadsheet runs a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula, so
``warnings.csv`` and ``results.xlsx`` prefix such cells with an apostrophe
(:data:`deconv_core.report.FORMULA_PREFIXES`).  That guard is for the user's text; the
tool's own advice is worded so that it never needs it ("Add --bootstrap 200 ...", not
"--bootstrap 200 ...").  The advice is read from the source, so every string the code
can emit is checked, including those of warnings no test run raises.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deconv_core.report import FORMULA_PREFIXES, safe_text

CORE = Path(__file__).resolve().parents[2] / "deconv_core"
# DeconvWarning(severity, code, message, sample, cli, app, cell_type): advice by position.
_ADVICE_POSITIONS = {"DeconvWarning": (4, 5)}
# Advice handed on unchanged from an error already raised (its own text is checked where
# it was written).
_PASSED_ON = {"cli", "app"}


def _assigned(scope: ast.AST, name: str) -> list[ast.expr]:
    """The values assigned to ``name`` anywhere in ``scope`` (a function or a module)."""
    values = []
    for node in ast.walk(scope):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            or isinstance(node, ast.AnnAssign | ast.AugAssign)
            and (isinstance(node.target, ast.Name) and node.target.id == name and node.value)
        ):
            values.append(node.value)
    return values


def _starts(node: ast.expr, scope: ast.AST, where: str) -> list[str]:
    """Every text an advice expression can start with (the first piece of each string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        first = node.values[0] if node.values else ast.Constant("")
        if isinstance(first, ast.FormattedValue):
            return _starts(first.value, scope, where)
        return [first.value]
    if isinstance(node, ast.IfExp):
        return _starts(node.body, scope, where) + _starts(node.orelse, scope, where)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _starts(node.left, scope, where)
    if isinstance(node, ast.Name):
        values = _assigned(scope, node.id)
        assert values, f"{where}: advice {node.id!r} is not assigned in its function"
        return [text for value in values for text in _starts(value, scope, where)]
    if isinstance(node, ast.Attribute) and node.attr in _PASSED_ON:
        return []
    raise AssertionError(f"{where}: cannot read the advice {ast.unparse(node)!r}; write it as text")


class _Calls(ast.NodeVisitor):
    """Every call with the innermost function around it (the module for none)."""

    def __init__(self, module: ast.Module) -> None:
        self.scopes: list[ast.AST] = [module]
        self.calls: list[tuple[ast.Call, ast.AST]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        self.calls.append((node, self.scopes[-1]))
        self.generic_visit(node)


def _advice() -> list[tuple[str, str]]:
    """(where, the text the advice starts with) for every advice in deconv_core."""
    found = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = _Calls(tree)
        calls.visit(tree)
        for call, scope in calls.calls:
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            given = [k.value for k in call.keywords if k.arg in ("cli", "app")]
            given += [call.args[i] for i in _ADVICE_POSITIONS.get(name, ()) if i < len(call.args)]
            for value in given:
                where = f"{path.relative_to(CORE.parent)}:{value.lineno}"
                found += [(where, text) for text in _starts(value, scope, where)]
    return found


ADVICE = _advice()


def test_advice_is_found_in_the_source():
    assert len(ADVICE) > 40  # the core's warnings and errors give this much advice and more
    assert any(text.startswith("Add --bootstrap 200") for _, text in ADVICE)


@pytest.mark.parametrize(("where", "text"), ADVICE, ids=[w for w, _ in ADVICE])
def test_the_tools_own_advice_needs_no_formula_guard(where, text):
    assert not text.startswith(FORMULA_PREFIXES), f"{where}: {text!r}"
    assert safe_text(text) == text
