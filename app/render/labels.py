"""The label page a pack may end with: the officials' addresses to cut out and stick on plain
envelopes, for a supporter who has no window envelopes, with the campaign's postage advice.

Everything on it is in the letters' language. Its texts are the pages' gettext messages (the
letters' languages are the pages' languages), and the campaign's template
(letter_templates/labels.html.j2, laid out by letter.css) decides how it looks.
"""

from collections.abc import Sequence

from app.campaign import Campaign, Recipient
from app.i18n import DEFAULT_UI_LANGUAGE, N_, UI_LANGUAGES, gettext

HEADING = N_("Addresses for your envelopes")
# One letter per envelope is the postage advice's to say, printed under it.
HINT = N_(
    "No window envelopes? Cut out each address along the dashed lines and stick it on a plain "
    "envelope."
)
# The thank-you page's advice, where the campaign gives none of its own.
GENERAL_POSTAGE = N_(
    "Use one envelope per letter; your post office tells you which stamp it needs."
)


def label_page(campaign: Campaign, recipients: Sequence[Recipient], lang: str) -> dict:
    """What labels.html.j2 shows: its texts and each official's address lines, in `lang`."""
    texts = lang if lang in UI_LANGUAGES else DEFAULT_UI_LANGUAGE
    postage = campaign.case.postage
    return {
        "heading": gettext(texts, HEADING),
        "hint": gettext(texts, HINT),
        "postage": postage[lang] if postage else gettext(texts, GENERAL_POSTAGE),
        "addresses": [list(r.address_as[lang].address_lines) for r in recipients],
    }
