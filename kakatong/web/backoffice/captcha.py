"""The sign-in captcha (验证码): an image drawn on the server, its answer kept on the server.

The browser's cookie holds only a random challenge id; the answer never leaves this process.
A challenge is good once (right or wrong) and for a few minutes.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from io import BytesIO

from captcha.image import ImageCaptcha

# No 0/O, 1/I/L: a shop owner squinting at a tablet should not have to guess.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 4
LIFETIME_SECONDS = 300
_MAX_OPEN = 10_000  # a flood of image requests cannot grow the store without bound


def random_text() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


class CaptchaStore:
    def __init__(self) -> None:
        self._open: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._image = ImageCaptcha(width=160, height=60)

    def new(self, text: str) -> tuple[str, bytes]:
        """A new challenge: (its id, the PNG to show)."""
        challenge = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            if len(self._open) >= _MAX_OPEN:
                self._open.pop(next(iter(self._open)))
            self._open[challenge] = (text.upper(), now + LIFETIME_SECONDS)
        image: BytesIO = self._image.generate(text, format="png")
        return challenge, image.getvalue()

    def solve(self, challenge: str | None, answer: object) -> bool:
        """Whether `answer` is the challenge's text (any case, spaces ignored). The challenge
        is used up either way."""
        if not challenge or not isinstance(answer, str):
            return False
        with self._lock:
            entry = self._open.pop(challenge, None)
        if entry is None or entry[1] < time.monotonic():
            return False
        given = "".join(answer.split()).upper()
        return hmac.compare_digest(given.encode(), entry[0].encode())

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, expires) in self._open.items() if expires < now]:
            del self._open[key]
