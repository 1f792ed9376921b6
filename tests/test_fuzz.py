"""Fuzzing: the image readers and the ``estimate``/``restore`` command lines.

A reader either returns planes that ``check_frame`` turns into finite float32 or says
why not with ``ValueError``/``FileNotFoundError``; a command exits 0 or 2, never 1.
"""

import io
import os
import string
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scope_deblur import estimation, restoration
from scope_deblur.cli import main
from scope_deblur.io import ImageStack, check_frame, read_image, read_planes
from scope_deblur.methods import METHODS
from scope_deblur.optics import NOMINAL
from scope_deblur.protocols import DefocusEstimate

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def budget(monkeypatch):
    """A corrupt header can declare a huge page: refuse anything over 1 GB."""
    monkeypatch.setenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", "1")


def read_all(path):
    """Read ``path`` every way there is; return its checked float32 planes."""
    try:
        with ImageStack(path) as stack:
            planes = [check_frame(p, name=f"{path} plane {k}") for k, p in enumerate(stack)]
        assert len(planes) == len(stack)
        stored, axes = read_planes(path)
        assert stored.shape == stack.shape and axes == stack.axes
        if stored.ndim == 2:
            np.testing.assert_array_equal(read_image(path), stored)
    except (ValueError, FileNotFoundError) as e:
        assert str(e)
        event(f"refused: {type(e.__cause__).__name__}")
        return None
    event("read")
    assert all(p.dtype == np.float32 and np.isfinite(p).all() for p in planes)
    return planes


def tiff_bytes(data, **kwargs):
    buf = io.BytesIO()
    tifffile.imwrite(buf, data, photometric="minisblack", **kwargs)
    return buf.getvalue()


def png_bytes(data):
    buf = io.BytesIO()
    Image.fromarray(data).save(buf, format="PNG")
    return buf.getvalue()


_RNG = np.random.default_rng(0)
_PLANE = _RNG.integers(0, 4000, (12, 16)).astype(np.uint16)
SEEDS = {
    ".tif": tiff_bytes(_PLANE),
    ".tiff": tiff_bytes(np.stack([_PLANE] * 3), compression="zlib", metadata={"axes": "TYX"}),
    ".ome.tif": tiff_bytes(np.stack([_PLANE] * 4).reshape(2, 2, 12, 16), metadata={"axes": "TZYX"}),
    ".png": png_bytes(_PLANE.astype(np.uint8)),
}


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".tif", ".tiff", ".png", ".jpg"]))
def test_random_bytes_are_read_or_refused(tmp_path, budget, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    read_all(path)


@FUZZ
@given(
    suffix=st.sampled_from(sorted(SEEDS)),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
    keep=st.one_of(st.just(1.0), st.floats(0.05, 1.0)),
)
def test_corrupted_files_are_read_or_refused(tmp_path, budget, suffix, flips, keep):
    data = bytearray(SEEDS[suffix])
    for where, byte in flips:
        data[int(where * len(data))] = byte
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(bytes(data[: max(1, int(keep * len(data)))]))
    read_all(path)


DTYPES = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.boolean_dtypes(),
    hnp.complex_number_dtypes(),
)


@FUZZ
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
def test_any_small_array_written_with_tifffile_is_read_or_refused(tmp_path, budget, arr):
    path = tmp_path / "array.tif"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a zero-size array: a nonconformant file
            tifffile.imwrite(path, arr, photometric="minisblack")
    except Exception:  # tifffile cannot store it (bool, empty, ...): nothing to read
        return
    planes = read_all(path)
    if arr.ndim == 2 and arr.size and arr.dtype.kind in "iuf" and np.isfinite(arr).all():
        with np.errstate(over="ignore"):
            fits = np.isfinite(arr.astype(np.float32)).all()
        if fits:
            assert planes is not None and len(planes) == 1
            np.testing.assert_array_equal(planes[0], arr.astype(np.float32))


@FUZZ
@given(
    arr=hnp.arrays(
        np.uint8, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6).map(lambda s: (*s[:2], 3))
    )
)
def test_colour_images_become_grey(tmp_path, budget, arr):
    tifffile.imwrite(tmp_path / "rgb.tif", arr, photometric="rgb")
    (tmp_path / "rgb.png").write_bytes(png_bytes(arr))
    for name in ("rgb.tif", "rgb.png"):
        planes = read_all(tmp_path / name)
        assert planes is not None
        np.testing.assert_allclose(planes[0], arr.mean(axis=-1), rtol=1e-6)


# --- the command lines ------------------------------------------------------------------


class StubNetwork:
    """Stands in for DelpNet and the restorers: cheap, and shaped like them."""

    name = "stub"

    def __init__(self, *args, **kwargs):
        pass

    def estimate(self, frame):
        frame = check_frame(frame)
        return DefocusEstimate(3.0, 0.5, 1.0, np.zeros(frame.shape, np.float32))

    def restore(self, frame, estimate):
        return check_frame(frame) * np.float32(0.5)


@pytest.fixture(scope="module")
def workdir():
    """Inputs for the command lines: images, a profile, bad files, a folder."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        tifffile.imwrite(root / "plane.tif", _PLANE)
        tifffile.imwrite(root / "stack.ome.tif", np.stack([_PLANE] * 2), metadata={"axes": "TYX"})
        (root / "plane.png").write_bytes(png_bytes(_PLANE.astype(np.uint8)))
        NOMINAL.save(root / "profile.json")
        (root / "empty.json").write_text("")
        (root / "bad.json").write_text('{"optics": {"na": "high"}}')
        (root / "notes.txt").write_text("not an image")
        (root / "folder").mkdir()
        yield root


@pytest.fixture
def stubs(monkeypatch):
    monkeypatch.setattr(estimation, "DelpNetEstimator", StubNetwork)
    for name in ("FusionRestorer", "AWDVDRestorer", "RLRestorer"):
        monkeypatch.setattr(restoration, name, StubNetwork)


def number_text():
    floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    words = st.sampled_from(["0", "-0", "nan", "inf", "-inf", "1e309", "1e-320", "abc", ""])
    return st.one_of(floats, words, st.text(max_size=6))


def mostly(good, bad):
    """Draw from ``good`` seven times in eight, so that many runs get to the end."""
    return st.integers(0, 7).flatmap(lambda i: bad if i == 0 else good)


NAMES = ["plane.tif", "stack.ome.tif", "plane.png", "notes.txt", "folder", "missing.tif", ""]
TEXT = st.text(string.ascii_letters + string.digits + "._- é", max_size=12).filter(
    lambda s: s != ".."  # relative, and never above the work folder
)
INPUTS = st.lists(
    mostly(st.sampled_from(NAMES[:3]), st.one_of(st.sampled_from(NAMES), TEXT)),
    min_size=1,
    max_size=3,
)
PROFILES = mostly(
    st.just([]),
    st.sampled_from(["profile.json", "empty.json", "bad.json", "folder"]).map(
        lambda p: ["--profile", p]
    ),
)


def run_cli(workdir, args):
    """Run the CLI in ``workdir``; return its exit code."""
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with pytest.raises(SystemExit) as e:
            main(args)
    finally:
        os.chdir(cwd)
    return e.value.code


def check_exit(code, capsys):
    err = capsys.readouterr().err
    event(f"exit {code}")  # pytest --hypothesis-show-statistics: how many got to the end
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code == 2 and not any("Usage:" in ln for ln in lines):
        assert len(lines) == 1 and lines[0].startswith("scope-deblur: error: "), lines


@FUZZ
@given(
    inputs=INPUTS,
    pixel=mostly(st.one_of(st.none(), st.floats(0.05, 3).map(repr)), number_text()),
    profile=PROFILES,
    map_dir=st.one_of(st.none(), st.none(), st.none(), TEXT),  # maps take 0.1 s each
    json_=st.booleans(),
)
def test_estimate_exits_0_or_2(workdir, stubs, capsys, inputs, pixel, profile, map_dir, json_):
    args = ["estimate", *inputs, "--device", "cpu", *profile]
    args += [] if pixel is None else [f"--pixel-size={pixel}"]
    args += [] if map_dir is None else [f"--map-dir={Path('maps') / map_dir}", "--overwrite"]
    check_exit(run_cli(workdir, args + ["--json"] * json_), capsys)


@FUZZ
@given(
    inputs=INPUTS,
    method=mostly(st.sampled_from(METHODS), st.text(max_size=8)),
    profile=PROFILES,
    output=mostly(TEXT.map(lambda p: f"out/{p}"), st.sampled_from([".", "folder", "plane.tif"])),
    overwrite=st.booleans(),
)
def test_restore_exits_0_or_2(workdir, stubs, capsys, inputs, method, profile, output, overwrite):
    given = [workdir / p for p in set(inputs) & set(NAMES[:4])]
    before = {p: p.read_bytes() for p in given}
    args = ["restore", *inputs, f"--output={output}", f"--method={method}", "--device", "cpu"]
    check_exit(run_cli(workdir, args + profile + ["--overwrite"] * overwrite), capsys)
    assert {p: p.read_bytes() for p in given} == before  # an input is never overwritten
