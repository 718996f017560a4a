"""The book as a whole: invariants checked after every simulated day and on demand."""

from tradelib.book.check import BookReport, check_book, raise_on_violations
from tradelib.book.invariants import BookState, Invariant, Violation, check_book_state

__all__ = [
    "BookReport",
    "BookState",
    "Invariant",
    "Violation",
    "check_book",
    "check_book_state",
    "raise_on_violations",
]
