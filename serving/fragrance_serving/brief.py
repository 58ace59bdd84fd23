"""The wire types of the brief API: what a caller sends and what a model must return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from fragrance_api.modes import Mode

#: A mode that cannot answer hands the request to the next cheaper, steadier mode.
DOWNSHIFT: dict[Mode, Mode | None] = {"creative": "balanced", "balanced": "fast", "fast": None}
#: Why a request left the mode it asked for.
DownshiftReason = Literal["breakerOpen", "upstreamErrors", "unloaded", "noModel", "deadline"]
MAX_PROMPT_CHARS = 2000

NOTES = (
    "bergamot", "lemon", "grapefruit", "mandarin", "neroli", "lavender", "rose", "jasmine",
    "iris", "violet", "tuberose", "peony", "pink pepper", "cardamom", "saffron", "cinnamon",
    "vetiver", "cedar", "sandalwood", "patchouli", "oud", "amber", "vanilla", "tonka",
    "musk", "leather", "incense", "sea salt", "fig", "green tea",
)  # fmt: skip
FAMILIES = ("citrus", "floral", "woody", "oriental", "fresh", "gourmand", "aquatic", "spicy")
Longevity = Literal["short", "medium", "long"]


class Wire(BaseModel):
    """camelCase on the wire, as in the CRDs."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class BriefRequest(Wire):
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(
        min_length=1, max_length=MAX_PROMPT_CHARS, description="What the user wants."
    )
    mode: Mode | None = Field(
        default=None, description="Force a mode; else the distribution picks."
    )
    user_id: str | None = Field(default=None, max_length=128, description="Opaque; never logged.")


class Brief(BaseModel):
    """A perfume brief. Strict: what a model returns must be exactly this."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=600)
    notes: list[str] = Field(min_length=1, max_length=12)
    families: list[str] = Field(min_length=1, max_length=4)
    intensity: int = Field(ge=0, le=100)
    longevity: Longevity
    error: bool = False


class BriefResponse(Wire):
    id: str = Field(description="Quote it in /v1/feedback.")
    brief: Brief
    mode: Mode = Field(description="Mode that answered (after any downshift).")
    requested_mode: Mode = Field(description="Mode chosen before any downshift.")
    model: str = Field(description="Model asked (after any downshift), also for a fallback.")
    cached: bool
    retries: int = Field(description="Times the model was asked again by the JSON guard.")
    fallback: bool
    downshift_reason: DownshiftReason | None = Field(
        default=None,
        description="Why the requested mode did not answer: its breaker was open, its "
        "attempts ended on upstream errors (5xx, timeout, connection, 429), it is unloaded, "
        "no model serves it, or the request's deadline passed.",
    )
    unanswered: str | None = Field(
        default=None,
        description="Set on a fallback served because no mode answered: what each mode met.",
    )
    formula: dict[str, float] | None = Field(
        default=None,
        description="The learner's formula for this brief (note -> share, 0-1), where a PPO "
        "worker runs and the brief names a family it knows: rate it with /v1/feedback "
        "{briefId: id} and the rating becomes the reward of this choice.",
    )


class FeedbackRequest(Wire):
    model_config = ConfigDict(extra="forbid", strict=True)

    brief_id: str = Field(min_length=1, max_length=128)
    rating: float = Field(ge=1, le=5, description="1 (bad) to 5 (great): the PPO reward signal.")


def fallback_brief() -> Brief:
    """What a caller gets when every attempt failed: valid, and marked ``error: true``."""
    return Brief(
        description="The brief could not be generated this time; please try again.",
        notes=["bergamot", "musk"],
        families=["fresh"],
        intensity=50,
        longevity="medium",
        error=True,
    )
