"""What text search sees of a memory and of a query: words, and n-grams of scripts
written without spaces.

PostgreSQL's parser keeps a run of Chinese or Japanese as one token, so `私はPythonを使う`
would be a single word. The indexed text gets spaces at script boundaries (`私は Python
を使う`), and a query's unspaced runs become bigrams matched with ILIKE (a trigram index
speeds that up when pg_trgm is installed). Query words never reach `to_tsquery` raw:
they are `\\w+` runs only, joined with `or` for `websearch_to_tsquery`, which never fails.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["MAX_QUERY_CHARS", "MAX_TERMS", "QueryTerms", "indexed_text", "query_terms"]

MAX_QUERY_CHARS = 4096
"""Characters of a query that are read; the rest is ignored."""
MAX_TERMS = 32
"""Most distinct words, and most distinct n-grams, one query searches for."""

_WORD = re.compile(r"\w+")
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")
_LIKE_SPECIAL = re.compile(r"([\\%_])")


def _is_unspaced(char: str) -> bool:
    """A letter of a script written without spaces between words."""
    return unicodedata.name(char, "").startswith(_UNSPACED)


def _runs(word: str) -> list[tuple[bool, str]]:
    """The word split where it moves in or out of an unspaced script."""
    return [(key, "".join(group)) for key, group in itertools.groupby(word, _is_unspaced)]


def indexed_text(text: str, max_bytes: int) -> str:
    """`text` as the index stores it: NFC, no NUL, spaces at unspaced-script boundaries,
    cut to `max_bytes` UTF-8 bytes (at a character boundary)."""
    text = unicodedata.normalize("NFC", text).replace("\x00", " ")
    spaced = "".join(" " + run + " " if unspaced else run for unspaced, run in _runs(text)).strip()
    encoded = spaced.encode("utf-8", "surrogatepass")
    if len(encoded) > max_bytes:
        spaced = encoded[:max_bytes].decode("utf-8", "ignore")
    return spaced.encode("utf-8", "replace").decode("utf-8")


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) <= 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def _like_pattern(gram: str) -> str:
    return "%" + _LIKE_SPECIAL.sub(r"\\\1", gram) + "%"


@dataclass(frozen=True)
class QueryTerms:
    """A query as search uses it.

    Attributes:
        words: distinct lowercase words of spaced scripts, for the tsvector.
        patterns: ILIKE patterns of the bigrams of unspaced runs.
    """

    words: tuple[str, ...]
    patterns: tuple[str, ...]

    @property
    def websearch(self) -> str:
        """The words joined with `or`: OR semantics for `websearch_to_tsquery`."""
        return " or ".join(self.words)

    def __bool__(self) -> bool:
        return bool(self.words or self.patterns)


def query_terms(query: str) -> QueryTerms:
    """Words and n-gram patterns of any text (operators, quotes, NUL: all just text)."""
    text = unicodedata.normalize("NFC", query[:MAX_QUERY_CHARS]).lower()
    words: dict[str, None] = {}
    grams: dict[str, None] = {}
    for word in _WORD.findall(text):
        for unspaced, run in _runs(word):
            if unspaced:
                grams.update(dict.fromkeys(_bigrams(run)))
            elif run.strip("_"):
                words[run] = None
    return QueryTerms(
        words=tuple(itertools.islice(words, MAX_TERMS)),
        patterns=tuple(_like_pattern(g) for g in itertools.islice(grams, MAX_TERMS)),
    )
