"""The focus lock's controller on a simulated stage and a DelpNet-like estimator."""

import math

import numpy as np
import pytest
from scope_deblur.focus import FocusLock, LockConfig, LockStep, Probe
from scope_deblur.protocols import DefocusEstimate

FLOOR_UM = 1.4  # DelpNet near focus reads about this much, not zero (measured on the demo)


class Bench:
    """A focal plane that drifts, a stage the lock moves, and a noisy |defocus| reader."""

    def __init__(self, lock, *, focal_um=0.0, drift=lambda t: 0.0, noise_um=0.3, seed=0):
        self.lock, self.focal, self.drift = lock, focal_um, drift
        self.noise, self.rng = noise_um, np.random.default_rng(seed)
        self.stage, self.t = 0.0, 0
        self.defocus, self.probes, self.moves = [], 0, []
        self.background: set[int] = set()

    def read(self):
        if self.t in self.background:
            return DefocusEstimate(None, 0.0, 0.0)
        d = self.stage - self.focal
        return DefocusEstimate(math.hypot(FLOOR_UM, d) + self.rng.normal(0, self.noise), 0.9)

    def exposure(self, t=None):
        self.focal += self.drift(self.t if t is None else t)

    def run(self, frames):
        for _ in range(frames):
            self.exposure()
            self.defocus.append(self.stage - self.focal)
            step = LockStep("data", "p0", f"t={self.t}", self.stage)
            decision = self.lock.observe(step, self.read())
            if isinstance(decision, Probe):
                self.probes += 1
                self.stage += decision.move_um
                self.exposure(-1)  # the probe is exposed too: the steady part of the drift
                probe = LockStep("probe", "p0", f"t={self.t}", self.stage)
                decision = self.lock.observe_probe(step, probe, decision.move_um, self.read())
            self.stage += decision
            self.moves.append(decision)
            self.t += 1
        return np.abs(np.array(self.defocus))


@pytest.mark.parametrize("start", [30.0, -30.0])
def test_converges_from_30_um_on_either_side(start):
    bench = Bench(FocusLock(), focal_um=-start)  # stage at 0: defocus = start
    d = bench.run(12)
    assert d[0] == pytest.approx(abs(start))
    assert np.all(d[5:] < 2.0)
    assert bench.probes <= 4


def test_holds_through_a_ramp_with_few_probes():
    bench = Bench(FocusLock(), drift=lambda t: 0.2, seed=1)
    d = bench.run(200)
    assert np.median(d[20:]) < 1.0 and np.quantile(d[20:], 0.95) < 2.5
    assert bench.probes <= 20  # 10 % of the data frames
    without = np.abs(0.2 * np.arange(1, 201))  # the same ramp, no lock
    assert np.median(without) > 10 * np.median(d)


def test_recovers_from_a_10_um_jump():
    bench = Bench(FocusLock(), drift=lambda t: 0.3 + (10.0 if t == 60 else 0.0), seed=2)
    d = bench.run(90)
    assert d[60] > 8  # the jump
    assert np.all(d[64:] < 2.0)  # back in focus within a few frames


def test_never_goes_beyond_the_excursion_and_stops_there():
    lock = FocusLock(LockConfig(max_excursion_um=10))
    bench = Bench(lock, drift=lambda t: 1.0, seed=3)
    bench.run(40)
    assert "beyond the ±10 µm allowed" in lock.stopped
    assert abs(bench.stage) <= 10 + 1e-9
    stop = next(i for i, s in enumerate(lock.steps) if s.state == "stopped")
    assert all(s.move_um == 0 for s in lock.steps[stop:])  # no move after it stopped


def test_each_move_is_at_most_the_step_limit():
    bench = Bench(FocusLock(LockConfig(max_step_um=3)), focal_um=-25, seed=4)
    d = bench.run(30)
    assert max(abs(m) for m in bench.moves) <= 3 + 1e-9
    assert d[-1] < 1.5  # it still gets there, 3 µm at a time


def test_background_frames_hold_the_stage():
    bench = Bench(FocusLock(), focal_um=-20, seed=5)
    bench.background = set(range(0, 10))
    bench.run(10)
    assert bench.stage == 0 and bench.probes == 0
    assert {s.state for s in bench.lock.steps} == {"held"}
    bench.run(10)  # signal again: it corrects
    assert abs(bench.defocus[-1]) < 1.5


def test_positions_keep_their_own_correction():
    lock = FocusLock()
    for position, focal in (("p0", -12.0), ("p1", 8.0)):
        bench = Bench(lock, focal_um=focal, seed=6)
        bench.lock_position = position
        for t in range(8):
            step = LockStep("data", position, f"t={t}", bench.stage)
            d = bench.stage - bench.focal
            est = DefocusEstimate(math.hypot(FLOOR_UM, d), 0.9)
            decision = lock.observe(step, est)
            if isinstance(decision, Probe):
                bench.stage += decision.move_um
                d = bench.stage - bench.focal
                probe = LockStep("probe", position, f"t={t}", bench.stage)
                decision = lock.observe_probe(
                    step, probe, decision.move_um, DefocusEstimate(math.hypot(FLOOR_UM, d), 0.9)
                )
            bench.stage += decision
    assert lock.offset("p0") == pytest.approx(-12.0, abs=1.0)
    assert lock.offset("p1") == pytest.approx(8.0, abs=1.0)
