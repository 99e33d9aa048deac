"""Made-up words and clue templates: every name is synthetic, nothing is taken from real shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random

_SYLLABLES = (
    "ka", "lo", "mir", "ven", "tas", "oru", "bel", "dra", "nim", "qua", "zel", "fen",
    "ost", "ria", "vol", "thi", "sar", "mun", "eli", "gor", "pra", "sto", "wyn", "hal",
    "dor", "ix", "ula", "bri", "cen", "tor", "yva", "pel", "kes", "amo", "rud", "sil",
)  # fmt: skip
_PLACE_SUFFIXES = ("ia", "stan", "mar", "land", "ora", "ovia", "enne")
_CITY_SUFFIXES = ("burg", "port", "ville", "holm", "ford", "haven", "mouth")
_DEVICE_SUFFIXES = ("scope", "graph", "meter", "phone", "matic", "lux")
_ADJECTIVES = ("tiny", "folding", "steam-powered", "brass", "pocket", "clockwork", "humble")
_COLORS = ("crimson", "silver", "amber", "indigo", "jade", "copper", "ivory")
_OCCUPATIONS = ("clockmaker", "lighthouse keeper", "cartographer", "baker", "ferryman", "weaver")
_INSTRUMENTS = ("zither", "oboe", "accordion", "harp", "bassoon", "marimba")
_FOODS = ("figs", "lentils", "honey", "walnuts", "goat cheese", "barley", "plums")
_NOUNS = ("lantern", "kettle", "ladder", "compass", "anchor", "bell", "window", "button")
_GERUNDS = ("sorting", "polishing", "counting", "measuring", "folding", "warming")
_NUMBERS = ("two", "three", "four", "five", "six", "seven")


def coin(rng: Random, syllables: int | None = None) -> str:
    """A pronounceable nonsense word, capitalised."""
    n = syllables if syllables is not None else rng.randint(2, 3)
    return "".join(rng.choice(_SYLLABLES) for _ in range(n)).capitalize()


def person(rng: Random) -> str:
    return f"{coin(rng, 2)} {coin(rng)}"


def place(rng: Random) -> str:
    return coin(rng, 2) + rng.choice(_PLACE_SUFFIXES)


def city(rng: Random) -> str:
    return coin(rng, 2) + rng.choice(_CITY_SUFFIXES)


def year(rng: Random) -> int:
    return rng.randint(1650, 1990)


def noun(rng: Random) -> str:
    return rng.choice(_NOUNS)


def food(rng: Random) -> str:
    return rng.choice(_FOODS)


def _capitals(rng: Random) -> tuple[str, str]:
    return f"This capital of {place(rng)} sits on the banks of the {coin(rng)} River", city(rng)


def _inventions(rng: Random) -> tuple[str, str]:
    device = coin(rng, 2).lower() + rng.choice(_DEVICE_SUFFIXES)
    return (
        f"In {year(rng)} {person(rng)} patented this {rng.choice(_ADJECTIVES)} device "
        f"for {rng.choice(_GERUNDS)} {noun(rng)}s",
        f"the {device}",
    )


def _novels(rng: Random) -> tuple[str, str]:
    return (
        f"{person(rng)}'s {year(rng)} novel follows a {rng.choice(_OCCUPATIONS)} "
        f"lost in the city of {city(rng)}",
        f"The {coin(rng)} of {place(rng)}",
    )


def _elements(rng: Random) -> tuple[str, str]:
    name = coin(rng, 2).lower()
    return (
        f'This element, symbol "{name[:2].capitalize()}", was first isolated '
        f"on the island of {place(rng)}",
        f"{name}ium",
    )


def _music(rng: Random) -> tuple[str, str]:
    return (
        f"This {rng.choice(_INSTRUMENTS)} player from {city(rng)} recorded "
        f'"The {coin(rng)} Suite" in {year(rng)}',
        person(rng),
    )


def _breads(rng: Random) -> tuple[str, str]:
    return f"Bakers in {place(rng)} fold {food(rng)} into this flat bread", f"a {coin(rng).lower()}"


def _rulers(rng: Random) -> tuple[str, str]:
    return (
        f"In {year(rng)} this ruler of {place(rng)} signed the Treaty of {city(rng)}",
        person(rng),
    )


def _birds(rng: Random) -> tuple[str, str]:
    color = rng.choice(_COLORS)
    return (
        f"This shy bird of the {place(rng)} highlands is named for its {color} crest",
        f"the {color} {coin(rng).lower()}",
    )


def _teams(rng: Random) -> tuple[str, str]:
    return (
        f"The {city(rng)} {coin(rng)}s won this many titles in a row starting in {year(rng)}",
        rng.choice(_NUMBERS),
    )


def _words(rng: Random) -> tuple[str, str]:
    return (
        f'From the {coin(rng, 2)}ish word for "{noun(rng)}", '
        f"it names a {rng.choice(_OCCUPATIONS)}'s apprentice",
        coin(rng).lower(),
    )


@dataclass(frozen=True)
class Theme:
    titles: tuple[str, ...]
    make: Callable[[Random], tuple[str, str]]


# jservice category titles are lowercase, and several carry quotes.
THEMES: tuple[Theme, ...] = (
    Theme(("world capitals", "capital cities", "on the map"), _capitals),
    Theme(("inventions", "gadgets", "patent pending"), _inventions),
    Theme(("novels", "fiction", "books by the shelf"), _novels),
    Theme(("the elements", "chemistry", '"ium"-portant'), _elements),
    Theme(("music", "instrumentalists", "suite!"), _music),
    Theme(("breads of the world", "food", "bakery"), _breads),
    Theme(("rulers", "treaties", "history"), _rulers),
    Theme(("birds", "animals", '"crest"-fallen'), _birds),
    Theme(("sports", "team spirit", "the streak"), _teams),
    Theme(("word origins", "vocabulary", "apprentices"), _words),
)
