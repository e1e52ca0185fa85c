"""Names as Parse's GraphQL derives them: type and field names of a class, JS `pluralize@8.0.0`, global ids.

The plural rules are a port of the rule tables of the npm package `pluralize` 8.0.0, which Parse Server uses for
its find queries (`Category` -> `categories`, `News` unchanged); no Python inflector gives the same answers.
"""
from __future__ import annotations

import base64
import binascii
import re

_IRREGULAR = (
    ("I", "we"), ("me", "us"), ("he", "they"), ("she", "they"), ("them", "them"), ("myself", "ourselves"),
    ("yourself", "yourselves"), ("itself", "themselves"), ("herself", "themselves"), ("himself", "themselves"),
    ("themself", "themselves"), ("is", "are"), ("was", "were"), ("has", "have"), ("this", "these"),
    ("that", "those"), ("echo", "echoes"), ("dingo", "dingoes"), ("volcano", "volcanoes"),
    ("tornado", "tornadoes"), ("torpedo", "torpedoes"), ("genus", "genera"), ("viscus", "viscera"),
    ("stigma", "stigmata"), ("stoma", "stomata"), ("dogma", "dogmata"), ("lemma", "lemmata"),
    ("schema", "schemata"), ("anathema", "anathemata"), ("ox", "oxen"), ("axe", "axes"), ("die", "dice"),
    ("yes", "yeses"), ("foot", "feet"), ("eave", "eaves"), ("goose", "geese"), ("tooth", "teeth"),
    ("quiz", "quizzes"), ("human", "humans"), ("proof", "proofs"), ("carve", "carves"), ("valve", "valves"),
    ("looey", "looies"), ("thief", "thieves"), ("groove", "grooves"), ("pickaxe", "pickaxes"),
    ("passerby", "passersby"),
)
_SINGLE_TO_PLURAL = {single.lower(): plural.lower() for single, plural in _IRREGULAR}
_PLURALS = {plural.lower() for _single, plural in _IRREGULAR}

_UNCOUNTABLE_WORDS = frozenset((
    "adulthood advice agenda aid aircraft alcohol ammo analytics anime athletics audio bison blood bream "
    "buffalo butter carp cash chassis chess clothing cod commerce cooperation corps debris diabetes digestion "
    "elk energy equipment excretion expertise firmware flounder fun gallows garbage graffiti hardware "
    "headquarters health herpes highjinks homework housework information jeans justice kudos labour literature "
    "machinery mackerel mail media mews moose music mud manga news only personnel pike plankton pliers police "
    "pollution premises rain research rice salmon scissors series sewage shambles shrimp software species staff "
    "swine tennis traffic transportation trout tuna wealth welfare whiting wildebeest wildlife you").split())

# (pattern, replacement) in the order pluralize adds them; the last matching rule wins, as there.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern, re.IGNORECASE), replacement) for pattern, replacement in (
        (r"s?$", "s"),
        (r"[^\u0000-\u007F]$", "$0"),
        (r"([^aeiou]ese)$", "$1"),
        (r"(ax|test)is$", "$1es"),
        (r"(alias|[^aou]us|t[lm]as|gas|ris)$", "$1es"),
        (r"(e[mn]u)s?$", "$1s"),
        (r"([^l]ias|[aeiou]las|[ejzr]as|[iu]am)$", "$1"),
        (r"(alumn|syllab|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat)(?:us|i)$", "$1i"),
        (r"(alumn|alg|vertebr)(?:a|ae)$", "$1ae"),
        (r"(seraph|cherub)(?:im)?$", "$1im"),
        (r"(her|at|gr)o$", "$1oes"),
        (r"(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi|curricul|automat"
         r"|quor)(?:a|um)$", "$1a"),
        (r"(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat)(?:a|on)$",
         "$1a"),
        (r"sis$", "ses"),
        (r"(?:(kni|wi|li)fe|(ar|l|ea|eo|oa|hoo)f)$", "$1$2ves"),
        (r"([^aeiouy]|qu)y$", "$1ies"),
        (r"([^ch][ieo][ln])ey$", "$1ies"),
        (r"(x|ch|ss|sh|zz)$", "$1es"),
        (r"(matr|cod|mur|sil|vert|ind|append)(?:ix|ex)$", "$1ices"),
        (r"\b((?:tit)?m|l)(?:ice|ouse)$", "$1ice"),
        (r"(pe)(?:rson|ople)$", "$1ople"),
        (r"(child)(?:ren)?$", "$1ren"),
        (r"eaux$", "$0"),
        (r"m[ae]n$", "men"),
        (r"^thou$", "you"),
        # uncountable patterns are rules that keep the word
        (r"pok[eé]mon$", "$0"), (r"[^aeiou]ese$", "$0"), (r"deer$", "$0"), (r"fish$", "$0"),
        (r"measles$", "$0"), (r"o[iu]s$", "$0"), (r"pox$", "$0"), (r"sheep$", "$0"),
    )
]
_GROUP = re.compile(r"\$(\d{1,2})")


def _restore_case(word: str, token: str) -> str:
    if word == token:
        return token
    if word == word.lower():
        return token.lower()
    if word == word.upper():
        return token.upper()
    if word[:1] == word[:1].upper():
        return token[:1].upper() + token[1:].lower()
    return token.lower()


def _replaced(word: str, found: re.Match[str], replacement: str) -> str:
    groups = (found.group(0), *found.groups())
    result = _GROUP.sub(lambda m: (groups[int(m.group(1))] if int(m.group(1)) < len(groups) else "") or "",
                        replacement)
    start = found.start()
    if found.group(0) == "":  # an empty match takes the case of the letter before it
        cased = _restore_case(word[start - 1] if start > 0 else "", result)
    else:
        cased = _restore_case(found.group(0), result)
    return word[:start] + cased + word[found.end():]


def pluralize(word: str) -> str:
    """JS `pluralize(word)` of npm pluralize 8.0.0."""
    token = word.lower()
    if token in _PLURALS:
        return _restore_case(word, token)
    if token in _SINGLE_TO_PLURAL:
        return _restore_case(word, _SINGLE_TO_PLURAL[token])
    if not token or token in _UNCOUNTABLE_WORDS:
        return word
    for pattern, replacement in reversed(_RULES):
        found = pattern.search(word)
        if found is not None:
            return _replaced(word, found, replacement)
    return word


def type_name(class_name: str) -> str:
    """`_User` -> `User`, `gameScore` -> `GameScore`: the class's GraphQL object type name."""
    stripped = class_name[1:] if class_name.startswith("_") else class_name
    return stripped[:1].upper() + stripped[1:]


def field_name(class_name: str) -> str:
    """`GameScore` -> `gameScore`: the get query's name; `pluralize(field_name)` is the find query's."""
    name = type_name(class_name)
    return name[:1].lower() + name[1:]


def to_global_id(class_name: str, object_id: str) -> str:
    return base64.b64encode(f"{class_name}:{object_id}".encode()).decode()


def from_global_id(value: str) -> tuple[str, str]:
    """(class name, objectId) of a global id; ("", "") when it does not decode, as graphql-relay's lenient
    decoding, so a plain objectId is never mistaken for one."""
    try:
        decoded = base64.b64decode(value.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    class_name, sep, object_id = decoded.partition(":")
    return (class_name, object_id) if sep else ("", "")


def object_id_of(value: str, class_name: str) -> str:
    """The objectId an id input means: a global id of `class_name` is decoded, anything else is the objectId."""
    decoded_class, object_id = from_global_id(value)
    return object_id if decoded_class == class_name and object_id else value
