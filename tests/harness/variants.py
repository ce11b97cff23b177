"""A recipe started on one of its stores (a catalogue Variant), warmed up, and started again after a kill:
the servers of the reliability tests (concurrency, SIGKILL)."""
from harness.catalogue import VARIANTS
from harness.client import get


def start_variant(recipe_server, name, services, app=None, restartable=False):
    """VARIANTS[name]'s recipe (or `app`, a copy of it) on its store, started with the `recipe_server`
    fixture and warmed up. restartable: with what a process started again needs to read the
    sessions of the one before (the variant's restart_env)."""
    variant = VARIANTS[name]
    env = dict(variant.environment(services), **(variant.restart_env if restartable else {}))
    return warmed_up(recipe_server(app or variant.recipe.app, env), variant.recipe.entry)


def restarted(server, path="/count"):
    """The same server started again (after a kill) on its port, directory and environment, warmed up."""
    return warmed_up(server.restarted(), path)


def warmed_up(server, path="/count"):
    """The server after one visit: web.py's first request of a process runs DiskStore.cleanup(), which
    fails (a 500) on a file that another request renames meanwhile: the race of a restart that the
    cleanup page shows and tests/test_cleanup.py tests. Not the subject of the reliability tests."""
    first = get(server, path)
    assert first.status == 200, (first.status, first.text[:500], server.log()[-3000:])
    return server
