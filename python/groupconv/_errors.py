"""Exceptions of groupconv: the C++ diagnostics as Python exceptions.

Every refusal is a :class:`ShapeError` (a :class:`ValueError`) whose ``str()`` is the full
multi-line diagnostic and whose ``code`` is the stable ``"GC0xx"`` code of the C++ library.
Wrong element types and objects that are not arrays raise :class:`DTypeError`, which is both a
:class:`ShapeError` (code ``"GC008"``) and a :class:`TypeError`, so either ``except`` works.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

__all__ = ["ShapeError", "DTypeError"]


class ShapeError(ValueError):
    """An invalid convolution: shapes, groups, strides, padding, dtype or another argument.

    Attributes mirror the C++ ``groupconv::Diagnostic``:

    - ``code``: stable code such as ``"GC003"`` (filter in-channels != C_in / groups)
    - ``summary``: the one-line summary
    - ``context``: labelled shapes and derived numbers, one string per line
    - ``rule``, ``expected``, ``found``, ``help``, ``repro``: as in the rendered text
    - ``text``: the whole rendered diagnostic (also ``str(error)``)
    """

    code: str
    summary: str
    context: List[str]
    rule: str
    expected: str
    found: str
    help: str
    repro: str
    text: str

    def __init__(
        self,
        text: str,
        code: str = "GC019",
        summary: str = "",
        context: Optional[Sequence[str]] = None,
        rule: str = "",
        expected: str = "",
        found: str = "",
        help: str = "",  # noqa: A002 - the diagnostic's field name
        repro: str = "",
    ) -> None:
        text = text.rstrip("\n")
        super().__init__(text)
        self.text = text
        self.code = code
        self.summary = summary or text.split("\n", 1)[0]
        self.context = list(context or [])
        self.rule = rule
        self.expected = expected
        self.found = found
        self.help = help
        self.repro = repro

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:  # picklable (multiprocessing, pytest-xdist)
        return (
            type(self),
            (self.text, self.code, self.summary, self.context, self.rule, self.expected,
             self.found, self.help, self.repro),
        )


class DTypeError(ShapeError, TypeError):
    """Wrong element type (float64, int, bool, ...) or an input that is not an array (GC008).

    groupconv computes in float32 only and never converts the element type silently: convert
    with ``x.astype(numpy.float32)`` / ``x.float()`` / ``tf.cast(x, tf.float32)``.
    """


def render(code: str, summary: str, context: Sequence[str] = (), rule: str = "",
           expected: str = "", found: str = "", help: str = "") -> str:  # noqa: A002
    """The C++ Diagnostic::render() layout, for refusals decided in Python."""
    out = [f"error[{code}]: {summary}"]
    out += [f"  {line}" for line in context]
    if rule:
        out.append(f"  rule:     {rule}")
    if expected:
        out.append(f"  expected: {expected}")
    if found:
        out.append(f"  found:    {found}")
    if help:
        out.append(f"  help: {help}")
    return "\n".join(out)


def make_error(text: str, code: str, summary: str = "", context: Sequence[str] = (),
               rule: str = "", expected: str = "", found: str = "", help: str = "",  # noqa: A002
               repro: str = "") -> ShapeError:
    """Builds the exception for a diagnostic (called by the C++ extension, too)."""
    cls = DTypeError if code == "GC008" else ShapeError
    return cls(text, code, summary, context, rule, expected, found, help, repro)


def error(code: str, summary: str, context: Sequence[str] = (), rule: str = "",
          expected: str = "", found: str = "", help: str = "") -> ShapeError:  # noqa: A002
    """A diagnostic decided in Python, rendered like the C++ ones."""
    text = render(code, summary, context, rule, expected, found, help)
    return make_error(text, code, summary, context, rule, expected, found, help)
