"""A recipe's app served with the store of its app as it was before the store was rewritten: what
bench/run.py serves over HTTP to compare the two stores on the same app (the "kept" targets).

Usage: BENCH_APP=recipes/redis/app.py BENCH_BEFORE=<that app at the older commit> python bench/before.py PORT
Each app is imported as a module (its `if __name__ == "__main__"` left out); the older one's `store`
then takes the place of the recipe's in its Session, and the recipe's app is served. bench/measure.py
loads both apps in-process with the same load().
"""
import importlib.util
import os
import sys


def load(path, name):
    sys.path.insert(0, os.path.dirname(path))  # as `python app.py` does: the modules beside it
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    recipe = load(os.environ["BENCH_APP"], "recipe")
    recipe.session.store = load(os.environ["BENCH_BEFORE"], "before").store
    recipe.app.run()
