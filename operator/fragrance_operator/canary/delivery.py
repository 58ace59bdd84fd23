"""Whether a release's notifications reached their targets, as the status's
``NotificationsDelivered`` condition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    reason: str  # Delivered, DeliveryFailed
    message: str
