"""Shareable views: URL query parameters <-> the state of the Compare and Runs tabs. Pure functions, no I/O.

A link such as ``?example=chelsea&a=tiny-pixel&b=tiny-gan&ratio=0.5&seed=7&mask=random`` opens the page with the
Compare tab set that way; ``?tab=runs&runs=ID1,ID2&metric=mse&image=photo.png`` opens the Runs tab on those runs and
that image. A parameter that cannot be used is left out of the view and named in :attr:`PageLink.problems`, so a
stale or edited link still opens the page (with a note) instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from mae_core.options import SEED_LIMIT, check_seed, mask_ratio_value

COMPARE_KEYS = ("example", "a", "b", "ratio", "seed", "mask", "crop")
RUNS_KEYS = ("runs", "metric", "image")
TAB_KEY = "tab"
TABS = ("compare", "sweep", "runs", "checkpoints")
KNOWN_KEYS = (*COMPARE_KEYS, *RUNS_KEYS, TAB_KEY)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class CompareView:
    """The Compare tab's settings a link carries; None leaves a control as the page sets it."""

    example: str | None = None  # an example image's name (its file stem, e.g. "chelsea")
    a: str | None = None  # checkpoint of the top row
    b: str | None = None  # checkpoint of the bottom row
    ratio: float | None = None
    seed: int | None = None
    mask: str | None = None  # masking strategy
    crop: bool | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, key) is None for key in COMPARE_KEYS)


@dataclass(frozen=True)
class RunsView:
    """The Runs tab's settings a link carries."""

    runs: tuple[str, ...] = ()
    metric: str | None = None
    image: str | None = None  # the image drilled into, by its name in the runs

    @property
    def empty(self) -> bool:
        return not self.runs and self.metric is None and self.image is None


@dataclass(frozen=True)
class PageLink:
    """What a page's URL asks for, and the parameters that were left out (with why)."""

    compare: CompareView = field(default_factory=CompareView)
    runs: RunsView = field(default_factory=RunsView)
    tab: str | None = None  # the tab to open
    problems: tuple[str, ...] = ()

    @property
    def open_tab(self) -> str | None:
        """The asked-for tab, else Runs when the link sets Runs and not Compare."""
        if self.tab is not None:
            return self.tab
        return "runs" if not self.runs.empty and self.compare.empty else None


@dataclass(frozen=True)
class LinkChoices:
    """The values a link may name on this server."""

    examples: Sequence[str] = ()  # example names (file stems)
    checkpoints: Sequence[str] = ()
    masks: Sequence[str] = ("random",)
    metrics: Sequence[str] = ()
    ratio_range: tuple[float, float] = (0.0, 1.0)  # inclusive bounds of the ratio control


def query_values(query: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Query parameters -> key -> list of values. ``query``: a mapping, starlette's ``QueryParams`` (repeated keys
    kept) or (key, value) pairs (what gradio's request object yields when it was rebuilt for the queue)."""
    if hasattr(query, "multi_items"):
        pairs = query.multi_items()
    else:
        pairs = query.items() if isinstance(query, Mapping) else query
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(str(key), []).append(str(value))
    return values


def parse_link(query: Mapping[str, str] | Iterable[tuple[str, str]], choices: LinkChoices) -> PageLink:
    """The view a page's query parameters ask for; unusable parameters become :attr:`PageLink.problems`."""
    values = query_values(query)
    problems = [
        f"unknown link parameter {key!r} (known: {', '.join(KNOWN_KEYS)})" for key in values if key not in KNOWN_KEYS
    ]

    def last(key: str) -> str | None:
        given = values.get(key)
        return given[-1].strip() if given else None

    compare = {}
    for key, check in _compare_checks(choices).items():
        text = last(key)
        if text is None or text == "":
            continue
        try:
            compare[key] = check(text)
        except ValueError as err:
            problems.append(f"link parameter {key}={text!r} ignored: {err}")
    runs, run_problems = _runs_view(values, choices)
    tab = last(TAB_KEY)
    if tab is not None and tab.lower() not in TABS:
        problems.append(f"link parameter tab={tab!r} ignored: expected one of {', '.join(TABS)}")
        tab = None
    return PageLink(
        compare=CompareView(**compare),
        runs=runs,
        tab=tab.lower() if tab else None,
        problems=tuple(problems + run_problems),
    )


def _compare_checks(choices: LinkChoices) -> dict:
    return {
        "example": lambda text: _one_of(text, choices.examples, "example"),
        "a": lambda text: _one_of(text, choices.checkpoints, "checkpoint"),
        "b": lambda text: _one_of(text, choices.checkpoints, "checkpoint"),
        "ratio": lambda text: _ratio(text, choices.ratio_range),
        "seed": _seed,
        "mask": lambda text: _one_of(text, choices.masks, "mask strategy"),
        "crop": _flag,
    }


def _runs_view(values: Mapping[str, list[str]], choices: LinkChoices) -> tuple[RunsView, list[str]]:
    problems = []
    # runs=ID1,ID2 or runs=ID1&runs=ID2, each once in order
    runs = tuple(dict.fromkeys(part.strip() for text in values.get("runs", []) for part in text.split(",")))
    runs = tuple(run for run in runs if run)
    metric = values.get("metric", [None])[-1]
    if metric is not None and choices.metrics and metric not in choices.metrics:
        problems.append(f"link parameter metric={metric!r} ignored: expected one of {', '.join(choices.metrics)}")
        metric = None
    image = values.get("image", [None])[-1] or None
    return RunsView(runs=runs, metric=metric or None, image=image), problems


def _one_of(text: str, allowed: Sequence[str], what: str) -> str:
    if text not in allowed:
        raise ValueError(f"no {what} {text!r} here; available: {', '.join(allowed) or 'none'}")
    return text


def _ratio(text: str, bounds: tuple[float, float]) -> float:
    ratio = mask_ratio_value(text)
    low, high = bounds
    if not low - 1e-9 <= ratio <= high + 1e-9:
        raise ValueError(f"the mask ratio must lie in [{low:g}, {high:g}]")
    return ratio


def _seed(text: str) -> int:
    try:
        return check_seed(int(text))
    except ValueError:
        raise ValueError(f"the seed must be a whole number from 0 to {SEED_LIMIT - 1}") from None


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")


def compare_query(view: CompareView) -> str:
    """``?example=...&a=...`` for a Compare view: the keys that are set, in :data:`COMPARE_KEYS` order."""
    pairs = []
    for key in COMPARE_KEYS:
        value = getattr(view, key)
        if value is None:
            continue
        if key == "ratio":
            value = f"{float(value):.6g}"  # 0.5, not the slider's 0.5000000001
        elif key == "crop":
            value = "1" if value else "0"
        pairs.append((key, str(value)))
    return _query(pairs)


def runs_query(view: RunsView) -> str:
    """``?tab=runs&runs=ID1,ID2&metric=...&image=...`` for a Runs view."""
    pairs = [(TAB_KEY, "runs")]
    if view.runs:
        pairs.append(("runs", ",".join(view.runs)))
    if view.metric:
        pairs.append(("metric", view.metric))
    if view.image:
        pairs.append(("image", view.image))
    return _query(pairs)


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return "?" + urlencode(pairs, safe=",/") if pairs else ""
