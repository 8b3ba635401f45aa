"""Letters that are not all identical: which variant paragraphs one pack carries.

Officials discount identical form letters, so templates may carry variant paragraphs
(campaign.yaml `variants`: name -> how many). Each pack picks one of each at random. The choice
travels with the form's other values, from the preview to the download, so the download holds
exactly what the preview showed; it is never stored.
"""

import secrets
from collections.abc import Mapping

from app.campaign import Campaign

FORM_FIELD = "variants"

Choice = dict[str, int]


def first(campaign: Campaign) -> Choice:
    """Variant 1 of every paragraph: what proofs and checks show unless they ask for more."""
    return {name: 1 for name in campaign.case.variants}


def pick(campaign: Campaign) -> Choice:
    """A fresh random choice for one pack."""
    return {name: secrets.randbelow(count) + 1 for name, count in campaign.case.variants.items()}


def encode(choice: Mapping[str, int]) -> str:
    """As a hidden form value: `appeal:2,closing:1`."""
    return ",".join(f"{name}:{number}" for name, number in sorted(choice.items()))


def decode(value: object, campaign: Campaign) -> Choice | None:
    """The choice a form carried back, or None if it is missing or is not one of this campaign's
    choices (a form from before a template change, or altered by hand)."""
    if not isinstance(value, str):
        return None
    counts = campaign.case.variants
    if not counts:
        return {} if value == "" else None
    choice: Choice = {}
    for item in value.split(","):
        name, _, number = item.partition(":")
        if not number.isdigit() or len(number) > 2:
            return None
        choice[name] = int(number)
    if set(choice) != set(counts) or any(not 1 <= choice[n] <= counts[n] for n in counts):
        return None
    return choice
