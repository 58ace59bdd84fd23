"""A perfume-brief corpus the project generates: request -> JSON brief, one pair a line.

Requests are built from moods, seasons, occasions and accords; the brief follows from the
words in the request (citrus words give citrus notes, "evening" gives long longevity...), so
a small model can learn the mapping and still slip when sampling.
"""

from __future__ import annotations

import json
import random

ACCORDS: dict[str, tuple[str, list[str]]] = {
    "citrus": ("citrus", ["bergamot", "lemon", "grapefruit", "mandarin"]),
    "floral": ("floral", ["rose", "jasmine", "peony", "violet"]),
    "woody": ("woody", ["cedar", "sandalwood", "vetiver", "patchouli"]),
    "warm": ("oriental", ["amber", "vanilla", "tonka", "incense"]),
    "fresh": ("fresh", ["lavender", "green tea", "neroli", "musk"]),
    "sweet": ("gourmand", ["vanilla", "tonka", "fig", "cinnamon"]),
    "marine": ("aquatic", ["sea salt", "grapefruit", "musk", "neroli"]),
    "spicy": ("spicy", ["pink pepper", "cardamom", "saffron", "cinnamon"]),
}
MOODS = {"bright": 45, "calm": 35, "bold": 85, "soft": 30, "elegant": 60, "playful": 50}
OCCASIONS = {
    "summer mornings": "short",
    "the office": "medium",
    "a first date": "medium",
    "evening parties": "long",
    "winter nights": "long",
    "a beach day": "short",
}
TEMPLATES = (
    "a {mood} {accord} scent for {occasion}",
    "something {mood} and {accord} to wear for {occasion}",
    "i want a {accord} perfume, {mood}, for {occasion}",
    "{mood} {accord} fragrance for {occasion}",
)


def pair(rng: random.Random) -> tuple[str, dict[str, object]]:
    accord = rng.choice(sorted(ACCORDS))
    second = rng.choice([a for a in sorted(ACCORDS) if a != accord])
    mood = rng.choice(sorted(MOODS))
    occasion = rng.choice(sorted(OCCASIONS))
    prompt = rng.choice(TEMPLATES).format(mood=mood, accord=accord, occasion=occasion)
    family, notes = ACCORDS[accord]
    family2, notes2 = ACCORDS[second]
    chosen = list(dict.fromkeys([*rng.sample(notes, 2), rng.choice(notes2)]))
    brief = {
        "description": f"A {mood} {family} composition for {occasion}.",
        "notes": chosen,
        "families": [family, family2],
        "intensity": MOODS[mood],
        "longevity": OCCASIONS[occasion],
    }
    return prompt, brief


def lines(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    pairs = (pair(rng) for _ in range(count))
    return [f"{p}\t{json.dumps(b, separators=(',', ':'))}" for p, b in pairs]
