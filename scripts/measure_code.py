#!/usr/bin/env python3
"""Numbers a reviewer asks for, from the source itself (``ast``, standard library only).

    python3 scripts/measure_code.py [--over 80] [src/genejobs]

prints: the functions longer than ``--over`` lines (first line of ``def`` to last line
of the body, decorators excluded), the uses of ``Any`` (``Any`` or ``typing.Any`` in
code and annotations; imports not counted) beside the plain word count that ``grep -ow
Any`` gives, the ``type: ignore`` comments with and without a reason, and the modules
and lines of each package.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import tokenize
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def long_functions(tree: ast.AST, over: int) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function longer than ``over`` lines."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > over:
                    found.append((name, child.lineno, length))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def any_uses(tree: ast.AST) -> int:
    return sum(
        1
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "Any")
        or (isinstance(node, ast.Attribute) and node.attr == "Any")
    )


def type_ignores(text: str) -> tuple[int, int]:
    """(with a reason, without): a reason is words after the ignore's closing bracket."""
    reasoned = bare = 0
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT and "type: ignore" in tok.string:
            after = re.split(r"type: ignore(\[[^\]]*\])?", tok.string, maxsplit=1)[-1]
            if re.search(r"[A-Za-z]{3,}", after):
                reasoned += 1
            else:
                bare += 1
    return reasoned, bare


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", nargs="?", type=Path, default=ROOT / "src" / "genejobs")
    p.add_argument("--over", type=int, default=80, help="report functions longer than this")
    a = p.parse_args(argv)
    root: Path = a.root.resolve()
    files = sorted(root.rglob("*.py"))
    long: list[tuple[int, str]] = []
    uses = words = reasoned = bare = 0
    modules: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for path in files:
        text = path.read_text()
        tree = ast.parse(text, filename=str(path))
        rel = path.relative_to(root.parent)
        for name, line, length in long_functions(tree, a.over):
            long.append((length, f"{rel}:{line} {name}"))
        uses += any_uses(tree)
        words += len(re.findall(r"\bAny\b", text))
        r, b = type_ignores(text)
        reasoned, bare = reasoned + r, bare + b
        package = str(path.parent.relative_to(root.parent))
        modules[package] += 1
        lines[package] += text.count("\n")
    print(f"functions over {a.over} lines: {len(long)}")
    for length, where in sorted(long, reverse=True):
        print(f"  {length:4d}  {where}")
    print(
        f"Any: {uses} uses (ast: Any / typing.Any, imports excluded); {words} words (grep -ow Any)"
    )
    print(f"type: ignore: {reasoned} with a reason, {bare} without")
    print(f"files per package ({len(files)} files, {sum(lines.values())} lines):")
    for package in sorted(modules):
        print(f"  {modules[package]:3d} files {lines[package]:6d} lines  {package}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
