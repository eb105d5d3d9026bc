"""The SVG chart geometry: round axes, bars in proportion, stacked layers, empty charts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chatbot.dashboard.charts import (
    Series,
    axis,
    day_label,
    duration,
    nice_ceiling,
    stacked_bars,
)

DAYS = [date(2026, 2, 1) + timedelta(days=n) for n in range(4)]


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (0.3, 0.5), (1, 1), (1.2, 2), (3, 5), (7, 10), (42, 50), (180, 200)],
)
def test_axes_end_on_a_round_number(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_count_axes_step_by_whole_numbers_up_to_the_largest_value() -> None:
    assert axis(3) == [0, 1, 2, 3]
    assert axis(17) == [0, 5, 10, 15, 20]
    assert axis(0) == [0, 1]


def test_bars_are_in_proportion_and_stacked_in_series_order() -> None:
    chart = stacked_bars(
        "Conversations",
        DAYS,
        [
            Series("Bot only", "#aaa", {DAYS[0]: 2, DAYS[2]: 1}),
            Series("Handed", "#f00", {DAYS[0]: 2}),
        ],
    )

    first, second, third = chart.bars
    assert (first.colour, second.colour, third.colour) == ("#aaa", "#f00", "#aaa")
    assert first.height == pytest.approx(second.height)
    assert first.height == pytest.approx(2 * third.height)
    assert second.y + second.height == pytest.approx(first.y)  # stacked on top
    assert first.y + first.height == pytest.approx(chart.plot_bottom)
    assert second.y == pytest.approx(chart.y_ticks[-1].position)  # the tallest bar fills the axis
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    assert first.label == "Feb 1 · Bot only: 2"
    assert not chart.empty


def test_a_range_without_data_is_an_empty_chart() -> None:
    chart = stacked_bars("Messages", DAYS, [Series("Visitor", "#00f", {})])

    assert chart.empty
    assert chart.bars == []


def test_long_ranges_label_only_some_days() -> None:
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(30)]

    chart = stacked_bars("Messages", days, [Series("Visitor", "#00f", {days[3]: 5})])

    assert 4 <= len(chart.x_ticks) <= 6
    assert chart.x_ticks[0].label == day_label(days[0])


@pytest.mark.parametrize(
    ("seconds", "text"), [(4, "4 s"), (59.4, "59 s"), (90, "1.5 min"), (7200, "2.0 h")]
)
def test_waits_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text
