"""Tools for tests of code that uses tidelog. Not for production.

``ManualClock`` is a clock that moves only when told to: pass it as ``clock=`` to
``tidelog.open`` and every time the engine keeps (arrival timestamps, retention,
iterator expiry, rate limits) follows it, so a test can expire an iterator or a day
of retention without sleeping::

    clock = tidelog.testing.ManualClock()
    with tidelog.open(path, clock=clock, limits="unlimited") as engine:
        ...
        clock.advance_ms(5 * 60 * 1000 + 1)   # every iterator issued before is expired
"""

from ._tidelog import ManualClock

__all__ = ["ManualClock"]
