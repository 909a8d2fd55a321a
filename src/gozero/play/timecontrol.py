"""Clocks for the GTP engine: time settings, the time left per colour, and a budget per move.

`TimeControl` holds what `time_settings` / `kgs-time_settings` set (none, absolute,
Canadian or Japanese byo-yomi) and what `time_left` reports, keeps its own count when the
controller sends no `time_left`, and answers `budget(color, moves_played, points)`: the
seconds to think about the next move, or None when there is no limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("none", "absolute", "canadian", "byoyomi")


@dataclass
class Clock:
    """One colour's clock: main time left, then byo-yomi period time and stones/periods left."""

    main: float = 0.0
    period: float = 0.0  # time left in the current byo-yomi period (or Canadian block)
    stones: int = 0  # Canadian: stones left in the block; Japanese: periods left
    in_byoyomi: bool = False


@dataclass
class TimeControl:
    """Time settings plus both clocks; `budget` turns them into seconds for one move."""

    kind: str = "none"
    main_time: float = 0.0
    byo_time: float = 0.0
    byo_stones: int = 0  # Canadian: stones per block
    byo_periods: int = 0  # Japanese: number of periods
    margin: float = 0.5  # seconds kept back per move for lag
    clocks: dict[int, Clock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown time system {self.kind!r}; choose one of {KINDS}")
        self.reset()

    # -- settings ------------------------------------------------------------------------
    def reset(self) -> None:
        """Both clocks back to the start of the game."""
        for color in (1, 2):
            in_byo = self.main_time <= 0 and self.kind in ("canadian", "byoyomi")
            stones = self.byo_stones if self.kind == "canadian" else self.byo_periods
            self.clocks[color] = Clock(main=self.main_time, period=self.byo_time, stones=stones, in_byoyomi=in_byo)

    @classmethod
    def from_gtp(cls, main_time: float, byo_time: float, byo_stones: int) -> TimeControl:
        """GTP ``time_settings``: byo-yomi stones 0 with time > 0 means no limit, byo-yomi
        time 0 means absolute time, otherwise Canadian byo-yomi."""
        for value in (main_time, byo_time, byo_stones):
            if value < 0:
                raise ValueError("time settings must not be negative")
        if byo_time > 0 and byo_stones == 0:
            return cls("none")
        if byo_time <= 0:
            return cls("absolute", main_time) if main_time > 0 else cls("none")
        return cls("canadian", main_time, byo_time, byo_stones=byo_stones)

    @classmethod
    def from_kgs(cls, args: list[str]) -> TimeControl:
        """KGS ``kgs-time_settings none | absolute M | byoyomi M T P | canadian M T S``."""
        if not args:
            raise ValueError("missing time system")
        kind, rest = args[0].lower(), args[1:]
        need = {"none": 0, "absolute": 1, "byoyomi": 3, "canadian": 3}
        if kind not in need:
            raise ValueError(f"unknown time system {kind!r}")
        if len(rest) != need[kind]:
            raise ValueError(f"{kind} takes {need[kind]} arguments")
        nums = [float(x) for x in rest]
        if any(x < 0 for x in nums):
            raise ValueError("time settings must not be negative")
        if kind == "none":
            return cls("none")
        if kind == "absolute":
            return cls("absolute", nums[0])
        if kind == "byoyomi":
            return cls("byoyomi", nums[0], nums[1], byo_periods=int(nums[2]))
        if int(nums[2]) == 0:
            return cls("absolute", nums[0])
        return cls("canadian", nums[0], nums[1], byo_stones=int(nums[2]))

    # -- clock updates -------------------------------------------------------------------
    def time_left(self, color: int, seconds: float, stones: int) -> None:
        """GTP ``time_left``: stones 0 means main time; else byo-yomi with that many
        stones (Canadian) or periods (Japanese, as KGS sends) left."""
        if seconds < 0 or stones < 0:
            raise ValueError("time left must not be negative")
        clock = self.clocks[color]
        if stones == 0:
            clock.main, clock.in_byoyomi = float(seconds), False
        else:
            clock.main, clock.in_byoyomi = 0.0, True
            clock.period, clock.stones = float(seconds), int(stones)

    def spend(self, color: int, seconds: float) -> None:
        """Count ``seconds`` of thinking against ``color``'s clock (one move played)."""
        if self.kind == "none":
            return
        clock = self.clocks[color]
        if not clock.in_byoyomi:
            clock.main -= seconds
            if clock.main >= 0 or self.kind == "absolute":
                return
            seconds, clock.main = -clock.main, 0.0
            clock.in_byoyomi = True
            clock.period = self.byo_time
            clock.stones = self.byo_stones if self.kind == "canadian" else self.byo_periods
        if self.kind == "canadian":
            clock.period -= seconds
            clock.stones -= 1
            if clock.stones <= 0:
                clock.period, clock.stones = self.byo_time, self.byo_stones
        else:  # Japanese: a period is used up only when a move overruns it
            while seconds > self.byo_time and clock.stones > 1:
                seconds -= self.byo_time
                clock.stones -= 1
            clock.period = self.byo_time

    # -- budget --------------------------------------------------------------------------
    def budget(self, color: int, moves_played: int, points: int) -> float | None:
        """Seconds to spend on the next move of ``color``; None when time is unlimited.

        Main time is spread over the moves we still expect to play (about 3/4 of the
        board's points in a game, half of them ours, at least 10), plus most of one
        byo-yomi period when there is one; in byo-yomi we use the period evenly per stone.
        """
        if self.kind == "none":
            return None
        clock = self.clocks[color]
        expected = max(10.0, (0.75 * points - moves_played) / 2.0)
        if clock.in_byoyomi:
            if self.kind == "canadian":
                per = clock.period / max(1, clock.stones)
            else:
                per = clock.period
            return max(0.05, per * 0.9 - self.margin)
        main_share = clock.main / expected
        if self.kind == "absolute":
            return max(0.05, main_share - self.margin)
        if self.kind == "canadian":
            extra = 0.8 * self.byo_time / max(1, self.byo_stones)
        else:
            extra = 0.8 * self.byo_time
        return max(0.05, main_share + extra - self.margin)


__all__ = ["Clock", "KINDS", "TimeControl"]
