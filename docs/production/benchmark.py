"""The Performance page in its reader's language: bench/results.json as a table, two figures with
their alt text, and the figures its sentences quote, all read from the file (none typed by hand).

Each notebook (performance.ipynb, performance.fr.ipynb) makes one `Run("en")` or `Run("fr")` and
writes its own sentences with the numbers this gives it. What a cell returns last, Jupyter shows:
Markdown as text, a Figure as its PNG.
"""
import base64
import io
import json
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

matplotlib.use("Agg")
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results.json"
BASELINE = "no session"  # bench/run.py's first case: the same application without sessions

#: The page's words, each in English and in French. A recipe's case is named "<slug> recipe"
#: (tests/harness/catalogue.py); "DBStore, SQLite" is a store on a database.
LANGUAGES = ("en", "fr")
WORDS = {
    "recipe": ("{} recipe", "recette {}"),
    "on": ("{} on {}", "{} sur {}"),
    BASELINE: ("no session", "sans session"),
    "stock": ("web.py 0.76's own stores", "magasins de web.py 0.76"),
    "recipes": ("the recipes' stores", "magasins des recettes"),
    "store": ("Store", "Magasin"),
    "http": (["Requests/s", "Share of no session", "p99 latency (ms)"],
             ["Requêtes/s", "Part du débit sans session", "Latence p99 (ms)"]),
    "in-process": (["µs per request, {} sessions", "Store calls", "Cleanup (ms), {} sessions"],
                   ["µs par requête, {} sessions", "Appels au magasin", "Nettoyage (ms), {} sessions"]),
    "machine": ("Measured on {cpus} CPUs (`{processor}`), `{platform}`, `Python {python}`; "
                "`wrk` with 8 connections, {seconds} s per store, {rounds} times, each round going through "
                "every store in turn: the tables give the medians.",
                "Mesuré sur {cpus} processeurs (`{processor}`), `{platform}`, `Python {python}`\u00a0; "
                "`wrk` avec 8 connexions, {seconds}\u00a0s par magasin, {rounds}\u00a0fois, chaque tour passant "
                "par tous les magasins l'un après l'autre\u00a0: les tableaux en donnent les médianes."),
    "errors": ("**{}**: `wrk` saw answers other than 2xx or 3xx, or socket errors, in this run: "
               "its figures are no clean measure.",
               "**{}**\u00a0: `wrk` a reçu des réponses autres que 2xx ou 3xx, ou des erreurs de socket, "
               "pendant cette exécution\u00a0: ses chiffres ne sont pas une mesure propre."),
    "share": ("requests/s, as a share of the application without sessions",
              "requêtes/s, rapportées à l'application sans session"),
    "share alt": ("Bar chart of each store's requests per second over HTTP, as a share of the "
                  "application without sessions: {}.",
                  "Graphique en barres des requêtes par seconde de chaque magasin en HTTP, rapportées "
                  "à celles de l'application sans session\u00a0: {}."),
    "sessions": ("stored sessions", "sessions enregistrées"),
    "cost": ("µs per request (in-process)", "µs par requête (dans le processus)"),
    "floor": (["Stored sessions", "Store (µs)", "Floor (µs)", "`MemoryStore` (µs)",
               "The app on `MemoryStore`, then the floor (µs)", "Store / that (in turn)", "Store / (floor + `MemoryStore`)"],
              ["Sessions enregistrées", "Magasin (µs)", "Plancher (µs)", "`MemoryStore` (µs)",
               "L'application sur `MemoryStore`, puis le plancher (µs)", "Magasin / ce total (à tour de rôle)",
               "Magasin / (plancher + `MemoryStore`)"]),
    "aim": ("The aim: each of these stores costs, in-process, at most {} times its application on "
            "`MemoryStore` with each request followed by the floor's calls, at each number of sessions "
            "measured. In this run, {}.",
            "L'objectif\u00a0: que chacun de ces magasins coûte, dans le processus, au plus {}\u00a0fois ce "
            "que coûte son application sur `MemoryStore` quand chaque requête y est suivie des appels du "
            "plancher, pour chacun des nombres de sessions mesurés. Dans cette exécution, {}."),
    "apart": (" Timed apart (last column), the same stores come to {} to {} times.",
              " Chronométrés séparément (dernière colonne), ces magasins arrivent de {} à {}\u00a0fois."),
    "meets": (["the {} does not meet it (from {} to {} times)", "the {} meets it (from {} to {} times)"],
              ["la {} ne l'atteint pas (de {} à {}\u00a0fois)", "la {} l'atteint (de {} à {}\u00a0fois)"]),
    "cost alt": ("Line chart, both axes logarithmic, of the microseconds per request in-process "
                 "with {} stored sessions: {}.",
                 "Graphique en lignes, échelle logarithmique sur les deux axes, des microsecondes par "
                 "requête dans le processus avec {} sessions enregistrées\u00a0: {}."),
}


class Markdown(str):
    def _repr_markdown_(self):
        return str(self)


class Figure:
    """A PNG whose text/plain is its alt text (overrides/hooks/alt_text.py puts it on the page)."""

    def __init__(self, figure, alt):
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=150, bbox_inches="tight")
        plt.close(figure)
        self.png, self.alt = base64.b64encode(png.getvalue()).decode(), alt

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/png": self.png, "text/plain": self.alt}


COLOURS = {BASELINE: "#9e9e9e", "stock": "#3f51b5", "recipes": "#ef6c00"}


class Run:
    """The last `make bench` run, told in one language."""

    def __init__(self, language):
        self.language = language
        self.words = {key: words[LANGUAGES.index(language)] for key, words in WORDS.items()}
        self.run = json.loads(RESULTS.read_text(encoding="utf-8"))
        self.results = {result["name"]: result for result in self.run["results"]}
        self.sizes = self.run["sizes"]
        plt.rcParams.update({"font.size": 11, "axes.spines.top": False, "axes.spines.right": False})

    # Numbers as the language writes them: "2,256.5" / "2 256,5" (non-breaking spaces).
    def number(self, value, digits=0, sign=""):
        text = f"{value:{sign},.{digits}f}".replace("-", "\u2212")
        return text.replace(",", "\u00a0").replace(".", ",") if self.language == "fr" else text

    def percent(self, share, sign=""):
        return self.number(share * 100, sign=sign) + ("\u00a0%" if self.language == "fr" else "%")

    def mark(self, punctuation):
        """The separator after an item, "; " or ": ", as the language writes it (French: a non-breaking space before)."""
        return ("\u00a0" if self.language == "fr" else "") + punctuation + " "

    def name(self, case):
        """A case's name in Markdown: its store class as code (`DBStore` on SQLite)."""
        return re.sub(r"\b(\w+Store)\b", r"`\1`", self.label(case))

    def label(self, case):
        """A case's name in the page's language: "postgres recipe" is « recette postgres »."""
        if case.endswith(" recipe"):
            return self.words["recipe"].format(case.removesuffix(" recipe"))
        if ", " in case:  # "DBStore, SQLite"
            return self.words["on"].format(*case.split(", "))
        return self.words.get(case, case)

    def kind(self, case):
        return BASELINE if case == BASELINE else "recipes" if self.is_recipe(case) else "stock"

    def is_recipe(self, case):
        return self.results[case]["app"]["path"].startswith("recipes/")

    # The figures the sentences quote.
    def stores(self):
        return [case for case in self.results if case != BASELINE]

    def share(self, case):
        return self.results[case]["ratio"]

    def requests_per_second(self, case):
        return self.results[case]["http"]["requests_per_second"]

    def microseconds(self, case, at=0):
        return self.results[case]["in_process"][at]["us_per_request"]

    def growth(self, case):
        """How much a request's cost changed from the fewest stored sessions to the most (0.1 is +10%)."""
        return self.microseconds(case, -1) / self.microseconds(case, 0) - 1

    def cleanup_ms(self, case, at=-1):
        return self.results[case]["in_process"][at]["cleanup_ms"]

    def calls(self, case):
        first = self.results[case]["in_process"][0]
        return first["calls_changed"], first["calls_unchanged"], first["calls_new_visitor"]

    # What the page shows.
    def say(self, text):
        return Markdown(text)

    def machine(self):
        return self.say(self.words["machine"].format(seconds=self.run["http_seconds"], rounds=self.run["http_rounds"],
                                                     **self.run["machine"]))

    def http_table(self):
        """Requests/s, their share of no session and p99 per store; then a line for any run with errors."""
        errors = [self.words["errors"].format(self.name(case)) for case, result in self.results.items()
                  if result["http"]["errors"]]
        return self.table(self.words["http"], lambda case, result: [
            self.number(self.requests_per_second(case)), self.percent(self.share(case)),
            self.number(result["http"]["p99_ms"], 1)], errors)

    def in_process_table(self):
        """µs per request with the fewest sessions stored, store calls, and cleanup with the most, per store
        (four columns fit the page; the cost figure shows every number of sessions)."""
        microseconds, calls, cleanup = self.words["in-process"]
        header = [microseconds.format(self.number(self.sizes[0])), calls, cleanup.format(self.number(self.sizes[-1]))]
        return self.table(header, lambda case, result: [
            self.number(self.microseconds(case)),
            "/".join(map(str, self.calls(case))) + " " + result["calls"] if result["calls"] else "—",
            self.number(self.cleanup_ms(case), 1)])

    def table(self, header, cells, after=()):
        """A Markdown table: a row per store, its name then cells(case, result), numbers to the right;
        then the paragraphs after."""
        return self.markdown_table(header, [[self.name(case), *cells(case, result)] for case, result in self.results.items()],
                                   after)

    def markdown_table(self, header, rows, after=()):
        lines = ["| " + " | ".join([self.words["store"], *header]) + " |", "| --- |" + " ---: |" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return self.say("\n\n".join(["\n".join(lines), *after]))

    # Each recipe's store on PostgreSQL or Redis against its floor: the same statements or commands with
    # the same client, without web.py (bench/measure.py), and against MemoryStore.
    def floors(self):
        return {floor["store"]: floor for floor in self.run["floors"]}

    def floor_aim(self):
        return self.run["floor_aim"]

    def floor_microseconds(self, case, at=0):
        return self.floors()[case]["in_process"][at]["us_changed"]

    def memory_store_then_floor(self, case, at=0):
        """The same app on MemoryStore, each request followed by the floor's calls, timed together (µs)."""
        return self.floors()[case]["in_process"][at]["us_memory_store_then_floor"]

    def above_floor(self, case, at=0):
        """The store's cost over its app on MemoryStore then the floor (the aim's ratio), and over the
        floor plus web.py's MemoryStore timed apart."""
        store = self.microseconds(case, at)
        apart = self.floor_microseconds(case, at) + self.microseconds("MemoryStore", at)
        # The first is the median of the two timed in turn (bench/measure.py), not a quotient of this table's.
        return self.floors()[case]["in_process"][at]["ratio_to_memory_store_then_floor"], store / apart

    def floor_table(self):
        rows = []
        for case in self.floors():
            for at, size in enumerate(self.sizes):
                ratio, apart = self.above_floor(case, at)
                rows.append([self.name(case), self.number(size), self.number(self.microseconds(case, at)),
                             self.number(self.floor_microseconds(case, at)),
                             self.number(self.microseconds("MemoryStore", at)),
                             self.number(self.memory_store_then_floor(case, at)),
                             self.number(ratio, 2), self.number(apart, 2)])
        return self.markdown_table(self.words["floor"], rows)

    def floor_sends(self, case):
        """What the floor sent for a changed request: each statement's first word or each command."""
        return [sent.split()[0] for sent in self.floors()[case]["changed"]]

    def floor_clients(self, case):
        """The client libraries the floor sent them with, as code ("`psycopg 3.3.9`"): a version has no decimal comma."""
        return [f"`{client}`" for client in self.floors()[case]["clients"]]

    def aim(self):
        """Whether each store meets the aim at every number of sessions, computed."""
        clauses = []
        for case in self.floors():
            ratios = [self.above_floor(case, at)[0] for at in range(len(self.sizes))]
            met = max(ratios) <= self.floor_aim()
            clauses.append(self.words["meets"][met].format(self.label(case), self.number(min(ratios), 2),
                                                           self.number(max(ratios), 2)))
        apart = [self.above_floor(case, at)[1] for case in self.floors() for at in range(len(self.sizes))]
        return self.say(self.words["aim"].format(self.number(self.floor_aim(), 2), self.mark(";").join(clauses))
                        + self.words["apart"].format(self.number(min(apart), 2), self.number(max(apart), 2)))

    def throughput_figure(self):
        """Each store's requests/s as a share of no session, a bar each, its value written on it."""
        cases = list(self.results)
        figure, axes = plt.subplots(figsize=(6.5, 0.42 * len(cases) + 1))
        bars = axes.barh([self.label(case) for case in cases], [self.share(case) for case in cases],
                         color=[COLOURS[self.kind(case)] for case in cases])
        axes.bar_label(bars, [self.percent(self.share(case)) for case in cases], padding=3)
        axes.invert_yaxis()
        axes.set_xlim(0, 1.12)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda share, _: self.percent(share)))
        axes.set_xlabel(self.words["share"])
        kinds = ["stock", "recipes"]
        axes.legend([Patch(color=COLOURS[kind]) for kind in kinds], [self.words[kind] for kind in kinds],
                    loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        listed = self.mark(";").join(f"{self.label(case)} {self.percent(self.share(case))}" for case in self.stores())
        return Figure(figure, self.words["share alt"].format(listed))

    def cost_figure(self):
        """Each store's in-process cost per request against the sessions stored, on log-log axes."""
        figure, axes = plt.subplots(figsize=(6.5, 4.2))
        markers = "osD^v<>ph*"
        for number, case in enumerate(self.results):
            style = {"color": COLOURS[BASELINE], "linestyle": "--"} if case == BASELINE else {}
            axes.plot(self.sizes, [self.microseconds(case, at) for at in range(len(self.sizes))],
                      marker=markers[number % len(markers)], label=self.label(case), **style)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.xaxis.set_major_locator(FixedLocator(self.sizes))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: self.number(value)))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: self.number(value)))
        axes.set_xlabel(self.words["sessions"])
        axes.set_ylabel(self.words["cost"])
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False, fontsize="small")
        listed = self.mark(";").join(self.label(case) + self.mark(":") + ", ".join(
            self.number(self.microseconds(case, at)) for at in range(len(self.sizes))) for case in self.stores())
        sizes = ", ".join(self.number(size) for size in self.sizes)
        return Figure(figure, self.words["cost alt"].format(sizes, listed))
