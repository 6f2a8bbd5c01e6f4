"""Personal data and credentials out of log lines before anything is written: scrubadub's detectors (e-mail
addresses, phone numbers, payment card numbers), and ours for what it has no detector for (our API keys, bearer
tokens, JWTs, card numbers written in groups).

scrubadub is a maintained library for this that needs no model download (Presidio wants a spaCy model). Its phone
detector costs about 0.1 ms a line, so a line is only handed to it when it holds a run of digits or an `@`: most
log lines hold neither and cost one regular-expression search.
"""

import re

import scrubadub
import scrubadub.detectors
import scrubadub.filth
from stdnum import luhn


class ApiKeyFilth(scrubadub.filth.Filth):
    type = "api_key"


class TokenFilth(scrubadub.filth.Filth):
    type = "token"


class ApiKeyDetector(scrubadub.detectors.RegexDetector):
    """Our API keys (`rmk_<8 hex>_<secret>`), and long secrets named as keys or passwords (`api_key=...`)."""

    name = "api_key"
    filth_cls = ApiKeyFilth
    regex = re.compile(
        r"\brmk_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}|(?<=[\s\"'=:])(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"
        r"|(?i:(?<=api[_-]key[=:\s\"'])|(?<=password[=:\s\"'])|(?<=secret[=:\s\"']))[^\s\"',;]{6,}"
    )


class TokenDetector(scrubadub.detectors.RegexDetector):
    """JWTs (three base64url parts, the first a JSON header) and whatever follows `Bearer`."""

    name = "token"
    filth_cls = TokenFilth
    regex = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|(?i:(?<=bearer )[^\s\"',;]{8,})")


class GroupedCardDetector(scrubadub.detectors.Detector):
    """Card numbers in groups (`4111 1111 1111 1111`, `4111-1111-...`), which scrubadub's detector (digits only)
    misses; Luhn-checked, so order numbers and dates are left alone."""

    name = "grouped_credit_card"
    _regex = re.compile(r"(?<![\d-])\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?(?![\d-])")

    def iter_filth(self, text: str, document_name: str | None = None):
        for match in self._regex.finditer(text):
            if luhn.is_valid(re.sub(r"\D", "", match.group())):
                yield scrubadub.filth.CreditCardFilth(
                    beg=match.start(), end=match.end(), text=match.group(), detector_name=self.name
                )


_SCRUBBER = scrubadub.Scrubber(
    detector_list=[
        scrubadub.detectors.EmailDetector,
        scrubadub.detectors.PhoneDetector,
        scrubadub.detectors.CreditCardDetector,
        GroupedCardDetector,
        ApiKeyDetector,
        TokenDetector,
    ]
)
# What any of the detectors could match starts here: an @, a run of digits, a key, a token.
_MAYBE = re.compile(r"@|(?:\d[ ().+-]{0,2}){7,}|rmk_|eyJ|(?i:bearer|key|password|secret)|\b[spr]k-")


def may_hold_personal_data(text: str) -> bool:
    """Whether any detector could find something in `text` (the lines that are not are written as they are)."""
    return bool(text) and _MAYBE.search(text) is not None


def redact(text: str) -> str:
    """`text` with every e-mail address, phone number, card number, API key, bearer token and JWT replaced by a
    placeholder such as {{EMAIL}}."""
    return _SCRUBBER.clean(text) if may_hold_personal_data(text) else text
