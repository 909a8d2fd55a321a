"""GTP time control: ``time_settings``, KGS's ``kgs-time_settings`` and ``time_left``.

The clocks themselves (`play.timecontrol.TimeControl`) turn these into a budget per move,
which `GtpState.limits` passes to the player with each ``genmove``.
"""

from __future__ import annotations

from ..timecontrol import TimeControl
from .protocol import Color, GtpError
from .state import GtpState


class TimeCommands:
    """Time settings and the clocks' state as the controller reports it."""

    def __init__(self, state: GtpState):
        self.state = state

    def cmd_time_settings(self, main_time: float, byo_yomi_time: float, byo_yomi_stones: int) -> str:
        try:
            self.state.time = TimeControl.from_gtp(main_time, byo_yomi_time, byo_yomi_stones)
        except ValueError as exc:
            raise GtpError("syntax error", str(exc)) from None
        return ""

    def cmd_kgs_time_settings(self, *args: str) -> str:
        try:
            self.state.time = TimeControl.from_kgs(list(args))
        except ValueError as exc:
            raise GtpError("syntax error", str(exc)) from None
        return ""

    def cmd_time_left(self, color: Color, seconds: float, stones: int) -> str:
        try:
            self.state.time.time_left(color, seconds, stones)
        except ValueError as exc:
            raise GtpError("syntax error", str(exc)) from None
        return ""
