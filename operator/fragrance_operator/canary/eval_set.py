"""The default evaluation set: every accord asked in every mode, with what a brief that
follows the prompt must name (its family, and one of its notes)."""

from __future__ import annotations

from fragrance_api.evaluation import EvaluationPrompt
from fragrance_api.modes import Mode

#: The word a prompt uses -> the family and the notes a brief that follows it names.
ACCORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "citrus": ("citrus", ("bergamot", "lemon", "grapefruit", "mandarin")),
    "floral": ("floral", ("rose", "jasmine", "peony", "violet")),
    "woody": ("woody", ("cedar", "sandalwood", "vetiver", "patchouli")),
    "warm": ("oriental", ("amber", "vanilla", "tonka", "incense")),
    "fresh": ("fresh", ("lavender", "green tea", "neroli", "musk")),
    "sweet": ("gourmand", ("vanilla", "tonka", "fig", "cinnamon")),
    "marine": ("aquatic", ("sea salt", "grapefruit", "musk", "neroli")),
    "spicy": ("spicy", ("pink pepper", "cardamom", "saffron", "cinnamon")),
}
TEMPLATES: tuple[tuple[str, Mode], ...] = (
    ("a bright {accord} scent for summer mornings", "fast"),
    ("something calm and {accord} to wear for the office", "balanced"),
    ("i want a {accord} perfume, bold, for evening parties", "creative"),
)

DEFAULT_SET: tuple[EvaluationPrompt, ...] = tuple(
    EvaluationPrompt(
        prompt=template.format(accord=accord), mode=mode, families=[family], notes=list(notes)
    )
    for accord, (family, notes) in ACCORDS.items()
    for template, mode in TEMPLATES
)
