"""Where one chat round trip's time goes: py-spy samples grouped into the steps of the path.

Record the server under the shared harness's chat load (the server and everything it starts on
one core, the load on the other), then group the samples:

    py-spy record --pid SERVER_PID --subprocesses --nonblocking --rate 250 --duration 20 \\
        --format raw -o chat.raw
    python bench/profile_round_trip.py chat.raw --result wsload.json

`--result` is the JSON line wsload.py printed for the same run: its round trips/s and the
server's CPU share turn each step's share of the samples into microseconds per round trip
(CPU seconds per second ÷ round trips per second, split by the shares). Without it, only the
shares are printed.

Each sample is given to the innermost frame of its stack that belongs to a step (so the JSON
encoding of a bot's answer counts as `encode`, not as `bot task`). Samples whose innermost frame
is the event loop's own code (uvloop, which py-spy sees as `Runner.run`, or asyncio) are the
loop's; samples of threads waiting for work (the thread pool, aiosqlite's thread) are idle and
left out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# (step, pattern on one frame "function (file:line)"), in the order they are tried on a frame.
STEPS: Sequence[tuple[str, re.Pattern[str]]] = [
    ("parse", re.compile(r"^(parse_frame|_storable) \(chatbot/chat/protocol")),
    ("validate", re.compile(r"\(pydantic|^_check_content \(|^FrameBudget")),
    ("rate limit", re.compile(r"\(limits/|\(chatbot/ratelimit/|\(chatbot/backends/ratelimit")),
    (
        "store",
        re.compile(
            r"\(chatbot/chat/(store|store_batch|writes)\.py"
            r"|\(sqlalchemy/|\(aiosqlite/|\(sqlite3/|\(asyncpg/|\(chatbot/webhooks/"
            r"|\(chatbot/storage/"
        ),
    ),
    (
        "encode",
        re.compile(r"^(encode|\w+_frame|text_frame_header) \(chatbot/chat/protocol|as_json"),
    ),
    ("write", re.compile(r"^(ChatSocket\.(uncork|_write\w*|_send\w*)|FrameFlusher)")),
    ("fan-out", re.compile(r"\(chatbot/chat/hub\.py|^ChatSocket\.|^ChatService\.announce")),
    ("bot task", re.compile(r"\(chatbot/chat/bot\.py|\(chatbot/brains/|\(chatbot/spend/")),
    ("aiohttp read", re.compile(r"\(aiohttp/(web_ws|web_protocol|_websocket|http_websocket)")),
    ("aiohttp other", re.compile(r"\(aiohttp/")),
    ("chat handlers", re.compile(r"\(chatbot/chat/")),
    ("other", re.compile(r"\(chatbot/")),
]
RUN = re.compile(r"^Runner\.run \(asyncio/runners")
EVENT_LOOP = re.compile(r"^Runner\.run \(asyncio/runners|\(asyncio/|\(uvloop/")
# Where a thread of the pool or aiosqlite's thread waits for its next job.
IDLE = re.compile(
    r"^(_worker \(concurrent/futures/thread\.py|_connection_worker_thread \(aiosqlite/core\.py"
    r"|Condition\.wait|Event\.wait|Queue\.get)"
)
FRAME_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


@dataclass(frozen=True)
class Profile:
    samples: Counter[str]  # per step
    leaves: dict[str, Counter[str]]  # per step, the innermost frames (for --top)
    idle: int

    @property
    def total(self) -> int:
        return sum(self.samples.values())


def step_of(frames: Sequence[str]) -> str:
    """The step a stack's sample belongs to (frames from the outermost to the innermost).

    Only the frames inside the event loop's run count: those around it start the server."""
    for frame in reversed(frames):
        if RUN.search(frame):
            break
        for step, pattern in STEPS:
            if pattern.search(frame):
                return step
    if frames and EVENT_LOOP.search(frames[-1]):
        return "event loop"
    return "other"


def group(lines: Iterable[str]) -> Profile:
    samples: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = {}
    idle = 0
    for line in lines:
        match = FRAME_LINE.match(line.rstrip("\n"))
        if match is None:
            continue
        frames = [frame for frame in match["stack"].split(";") if not frame.startswith("process ")]
        count = int(match["count"])
        if not frames:
            continue
        if IDLE.search(frames[-1]):
            idle += count
            continue
        step = step_of(frames)
        samples[step] += count
        leaves.setdefault(step, Counter())[frames[-1]] += count
    return Profile(samples, leaves, idle)


def table(profile: Profile, result: dict[str, object] | None) -> str:
    per_round_trip_us = None
    lines = []
    if result is not None:
        rps = float(str(result["rps"]))
        cpu = float(str(result["server_cpu_pct"])) / 100
        per_round_trip_us = cpu / rps * 1e6
        lines.append(
            f"{rps:,.0f} round trips/s at {cpu:.0%} of one core: "
            f"{per_round_trip_us:,.0f} µs of CPU per round trip\n"
        )
    lines += ["| step | samples | share | µs per round trip |", "| --- | ---: | ---: | ---: |"]
    total = profile.total
    for step, count in profile.samples.most_common():
        share = count / total
        us = "" if per_round_trip_us is None else f"{share * per_round_trip_us:,.0f}"
        lines.append(f"| {step} | {count:,} | {share:.1%} | {us} |")
    lines.append(f"| (idle threads, left out) | {profile.idle:,} | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--result", type=Path, help="wsload.py's JSON line for the same run")
    parser.add_argument("--top", type=int, default=0, help="also list each step's top frames")
    args = parser.parse_args(argv)
    profile = group(args.raw.read_text().splitlines())
    if not profile.total:
        print(f"{args.raw}: no samples", file=sys.stderr)
        return 1
    result = None
    if args.result is not None:
        result = json.loads(args.result.read_text().strip().splitlines()[-1])
    print(table(profile, result))
    for step, leaves in profile.leaves.items() if args.top else ():
        print(f"\n{step}:")
        for frame, count in leaves.most_common(args.top):
            print(f"  {count:6,}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
