"""SIGKILL `scope-deblur demo` at random times, then check the raw data and resume.

Not a test (it takes minutes): the README's kill figures come from

    python -m tests.kill_trials ome-zarr ome-tiff --trials 3 --out /tmp/kills

One JSON line per trial: when the kill came (seconds after the first frame reached
the disk), the frames on disk, whether any is missing before the last, whether the
file was torn, and what `scope-deblur resume` made of it.
"""

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from scope_deblur.live import RAW_NAMES, RawData


def trial(fmt: str, seed: int, out: Path) -> dict:
    rng = random.Random(seed)
    run = out / f"{fmt}-{seed}"
    cmd = [sys.executable, "-m", "scope_deblur", "demo", "--frames", "200", "--seed", str(seed)]
    cmd += ["--method", "fusion-fast", "--format", fmt, "--out", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = run / ("raw.ome.zarr/0/c" if fmt == "ome-zarr" else RAW_NAMES[fmt])
    while not first.exists():  # the run has started saving frames
        time.sleep(0.05)
    delay = rng.uniform(0, 15)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    raw = RawData(run / RAW_NAMES[fmt])
    present = [t for t in range(200) if raw.has({"t": t})]
    resume = [sys.executable, "-m", "scope_deblur", "resume", str(run), "--json"]
    done = subprocess.run(resume, capture_output=True, text=True)
    summary = json.loads(done.stdout) if done.returncode == 0 else {}
    return {
        "format": fmt,
        "kill_after_first_frame_s": round(delay, 1),
        "frames_on_disk": len(present),
        "holes": present != list(range(len(present))),
        "torn": bool(raw.torn),
        "resume_exit": done.returncode,
        "state": summary.get("state"),
        "frames_restored": summary.get("frames_restored"),
        "restored_live_before_the_kill": summary.get("frames_restored_live"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("formats", nargs="+", choices=sorted(RAW_NAMES))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for fmt in args.formats:
        for seed in range(1, args.trials + 1):
            print(json.dumps(trial(fmt, seed, args.out)), flush=True)


if __name__ == "__main__":
    main()
