"""What each recipe is, in one place: read by the harness, the reliability tests and the benchmark.

Adding a recipe: give it a ``Recipe`` line in ``RECIPES_CATALOGUE`` (what differs from a /count
recipe with web.py's cookie), and a ``Variant`` for each other store it can run on. Its page's
front matter stays the place for the servers it needs (``services: [...]``). Tests of the whole
catalogue (tests/test_catalogue.py) fail with a message naming this file when a recipe is not
declared, or declares what its code does not do.
"""
import functools
import subprocess
from dataclasses import dataclass, field

from harness import RECIPES, REPO
from harness.processes import python_env
from harness.site import front_matter

#: What a recipe answers while its disk refuses writes: 503 (it says it cannot keep the session),
#: or "lost" (web.py's DiskStore: 200, the write dropped without a word).
LOST, UNAVAILABLE = "lost", 503


@dataclass(frozen=True)
class Disk:
    """What a recipe that keeps sessions in files answers on a full and on a read-only disk:
    to a visitor with a session, and to a newcomer. None: the fault cannot be made (a read-only
    remount is refused while a process keeps a file open to write, as SQLite keeps its database)."""
    full: tuple = (LOST, LOST)
    read_only: tuple = (LOST, LOST)


@dataclass(frozen=True)
class Recipe:
    slug: str
    entry: str = "/count"  # what a first visit asks for; a /count recipe counts visits from 1
    cookie: str = "webpy_session_id"  # the session cookie's name
    disk: Disk | None = None  # sessions kept in files: what a disk fault does (None: not in files)
    public: str = ""  # a page that uses no session and says any cache may keep it ("": none)

    @property
    def app(self):
        return RECIPES / self.slug / "app.py"

    @property
    def counts(self):
        return self.entry == "/count"

    @property
    def services(self):
        """The servers its page names in its front matter."""
        return pages_by_recipe()[self.slug].get("services", [])


ON_FILES = Disk()
RECIPES_CATALOGUE = {recipe.slug: recipe for recipe in [
    Recipe("cart", entry="/cart", disk=ON_FILES),
    Recipe("cleanup", disk=ON_FILES),
    Recipe("cookies", cookie="__Host-sid", disk=ON_FILES),
    Recipe("count", disk=ON_FILES),
    Recipe("csrf", entry="/form", cookie="__Host-sid", disk=ON_FILES),
    # SQLite unless DATABASE_URL: its database error answered 503. Its file is open to write.
    Recipe("dbstore", disk=Disk(full=(UNAVAILABLE, UNAVAILABLE), read_only=None)),
    Recipe("expiry", entry="/whoami", cookie="__Host-sid", disk=ON_FILES),
    Recipe("flash", entry="/", disk=ON_FILES),
    Recipe("hardening", disk=Disk(full=(UNAVAILABLE, UNAVAILABLE), read_only=(UNAVAILABLE, UNAVAILABLE))),
    Recipe("json-store", disk=Disk(full=(UNAVAILABLE, UNAVAILABLE), read_only=(UNAVAILABLE, UNAVAILABLE))),
    Recipe("lazy", disk=ON_FILES, public="/"),
    # A known session's lock file cannot be opened on a read-only disk: 503. A newcomer takes no
    # lock (no id yet), and web.py's DiskStore loses its write. On a full disk the lock file opens.
    Recipe("locking", disk=Disk(read_only=(UNAVAILABLE, LOST))),
    Recipe("login", entry="/whoami", cookie="__Host-sid", disk=ON_FILES),
    Recipe("parameters", disk=ON_FILES),
    Recipe("postgres"),
    Recipe("proxy", disk=ON_FILES),
    Recipe("redis"),
    Recipe("reloader", disk=ON_FILES),
    Recipe("resilience", public="/", disk=Disk(full=(UNAVAILABLE, UNAVAILABLE), read_only=(UNAVAILABLE, UNAVAILABLE))),
    Recipe("scale-out"),
    Recipe("stores", disk=ON_FILES),
    Recipe("subapp", disk=ON_FILES),
    Recipe("template", entry="/", disk=ON_FILES),
    Recipe("testing", disk=ON_FILES),
    Recipe("together", entry="/login", cookie="__Host-sid"),
]}


def no_servers(services):
    return {}


def cookbook_database(services):
    return services.cookbook_database()


def redis(services):
    return services.redis()


def dbstore_schema(services):
    """The cookbook database with web.py's own sessions table, as the dbstore page creates it."""
    env = services.cookbook_database()
    subprocess.run(["psql", "-d", "cookbook", "-q", "-f", RECIPES / "dbstore" / "schema.sql"],
                   env=python_env(env), check=True)
    return env


def also(environment, **more):
    return lambda services: dict(environment(services), **more)


@dataclass(frozen=True)
class Variant:
    """A recipe on one of its stores: the environment that chooses it, from the `services` fixture."""
    slug: str
    environment: object = no_servers  # services -> the variables to start the recipe with
    store: str = ""  # a kind of store: the variant stands for it in the concurrency and SIGKILL tests
    durable: bool = True  # its sessions outlive a process killed while it writes
    restart_env: dict = field(default_factory=dict)  # what a restarted process needs to read its sessions
    not_killed: str = ""  # why the SIGKILL test leaves it out
    bench: str = ""  # its name in `make bench`, when benchmarked

    @property
    def recipe(self):
        return RECIPES_CATALOGUE[self.slug]


#: Every recipe on the store it starts with (named by its slug), then the other stores recipes offer.
VARIANTS = {slug: Variant(slug) for slug in RECIPES_CATALOGUE} | {
    "count": Variant("count", store="web.py's DiskStore"),
    "cleanup": Variant("cleanup", bench="cleanup recipe"),
    "hardening": Variant("hardening", store="PrivateDiskStore"),
    "json-store": Variant("json-store", store="SignedJsonStore",
                          restart_env={"SESSION_SECRET": "a-key-for-the-tests-of-this-cookbook-only-" * 2}),
    "lazy": Variant("lazy", store="LazySession on TouchedDiskStore"),
    "resilience": Variant("resilience", store="LazySession on FileStore"),
    "resilience on postgres": Variant("resilience", cookbook_database, store="resilience's PostgresStore"),
    "locking": Variant("locking", store="locking on disk, with flock"),
    "locking on postgres": Variant("locking", also(cookbook_database, SESSION_STORE="postgres"),
                                   store="locking on PostgreSQL"),
    "locking on redis": Variant("locking", also(redis, SESSION_STORE="redis"), store="locking on Redis",
                                not_killed="a request killed while it holds the Redis lock leaves the key for "
                                           "its 30 s expiry (test_locking.py shows it): the next visits wait, then 503"),
    # A kill while dbm.dumb rewrites its index can leave it empty (the stores page shows it).
    "stores with shelf": Variant("stores", lambda services: {"SESSION_STORE": "shelf"}, store="ShelfStore",
                                 durable=False),
    "stores with sqlite": Variant("stores", lambda services: {"SESSION_STORE": "sqlite"}, store="DBStore on SQLite"),
    "stores with memory": Variant("stores", lambda services: {"SESSION_STORE": "memory"}, store="MemoryStore",
                                  durable=False),
    "dbstore on postgres": Variant("dbstore", dbstore_schema, store="DBStore on PostgreSQL"),
    "postgres": Variant("postgres", cookbook_database, store="postgres's PostgresStore", bench="postgres recipe"),
    "redis": Variant("redis", redis, store="redis's RedisStore", bench="redis recipe"),
    "scale-out": Variant("scale-out", redis, store="scale-out on Redis"),  # Redis unless DATABASE_URL
    "scale-out on postgres": Variant("scale-out", cookbook_database, store="scale-out on PostgreSQL"),
    "together": Variant("together", cookbook_database),
}
#: One variant of each kind of store the recipes implement.
STORE_VARIANTS = {name: variant for name, variant in VARIANTS.items() if variant.store}


@functools.cache
def pages_by_recipe():
    """slug -> the front matter of the English page that shows the recipe."""
    pages = (front_matter(page.read_text()) for page in (REPO / "docs").rglob("*.md")
             if not page.name.endswith(".fr.md"))
    return {page["recipe"]: page for page in pages if "recipe" in page}


def undeclared_recipes():
    """Folders of recipes/ that this catalogue does not declare."""
    return sorted(path.name for path in RECIPES.iterdir() if path.is_dir() and path.name not in RECIPES_CATALOGUE)


#: The recipes with the login page's interface (/login, /whoami, /logout; the expiry recipe carries
#: the login recipe's), and the demo account their pages give.
LOGIN_RECIPES = ("login", "expiry")
DEMO_ACCOUNT = {"username": "alice", "password": "wonderland"}
