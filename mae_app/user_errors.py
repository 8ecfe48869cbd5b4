"""User errors (``gr.Error``: bad input, a refused request) as the server logs them and as a page keeps them.

Gradio prints the traceback of every ``gr.Error`` a handler raises; for a mistyped seed or a text file named
``.png`` that is noise in the server's log. :func:`log_in_one_line` makes every handler of a page log such an
error as one line (logger ``mae_app``) and raise it without the traceback; anything else still gets one.

:func:`as_note` is what the Compare tab's own events (not the API's) do with a user error instead of raising it:
a raised error marks every output of its event as failed (a red "Error" over each panel, the table and the
controls) and says why only in a toast that fades; the page rather keeps what it showed and says why in its note.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable

import gradio as gr

logger = logging.getLogger("mae_app")


def message(err: gr.Error) -> str:
    """An error's text as a page shows it (its title, when it has one, first)."""
    title = getattr(err, "title", "") or ""
    text = str(getattr(err, "message", "") or err)
    return f"{title}: {text}" if title and title != "Error" else text


def log_refusal(where: str, err: gr.Error) -> None:
    """One line in the server's log for a refused request."""
    logger.info("refused (%s): %s", where, message(err).replace("\n", " "))


def quietly(fn: Callable) -> Callable:
    """``fn`` (a function or a generator function, as gradio calls it) whose ``gr.Error`` is logged in one line and
    raised without its traceback; the signature is kept (gradio reads it for the API and the progress bar)."""
    where = getattr(fn, "__name__", "handler")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error as err:
                raise _quiet(where, err) from None

        return generator

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as err:
            raise _quiet(where, err) from None

    return call


def _quiet(where: str, err: gr.Error) -> gr.Error:
    log_refusal(where, err)
    err.print_exception = False
    return err


def log_in_one_line(demo: gr.Blocks) -> None:
    """Every event handler of ``demo`` made :func:`quietly`; call it once, when the page is built (gradio keeps its
    events' functions in ``demo.fns``: wrapping them there covers every tab without touching each listener)."""
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is not None and not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            block_fn.fn = quietly(fn)  # gradio's own async helpers are left as they are


def show_log_lines() -> None:
    """The ``mae_app`` logger's lines on stderr (the server's log), once; other libraries' logging is left alone."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def as_note(err: gr.Error, previous: str | None = None) -> str:
    """A user error as the note under the panels: the message, then what the panels still show (``previous``:
    the note of the result on screen, if any)."""
    note = f"**Not done:** {message(err)}"
    if previous:
        note += f"\n\n_The panels still show the previous result:_ {previous}"
    return note
