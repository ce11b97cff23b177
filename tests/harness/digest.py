"""Which code a result was measured on: the benchmark records it, tests/test_bench.py compares it."""
import ast
import hashlib


def code_digest(source):
    """A digest of the code, not of its bytes: comments, blank lines and layout leave it as it is.

    It is taken on the syntax tree, as ast.dump shows it, less the empty fields (None, []) that
    ast.dump shows or hides depending on Python's version (3.12 adds `type_params=[]`, 3.13 hides
    empty lists): the weekly job, on the newest Python, finds the same digest.
    """
    def canonical(node):
        if isinstance(node, ast.AST):
            return [type(node).__name__] + [[field, canonical(value)] for field, value in ast.iter_fields(node)
                                            if value is not None and value != []]
        if isinstance(node, list):
            return [canonical(item) for item in node]
        return repr(node)
    return hashlib.sha256(repr(canonical(ast.parse(source))).encode()).hexdigest()


def recipe_digest(app):
    """The code digest of a recipe: of its app and of every module beside it (links followed), so
    that a change in a module it imports counts as a change of the recipe."""
    lines = [f"{path.name} {code_digest(path.read_text())}" for path in sorted(app.parent.glob("*.py"))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
