"""The CLI never overwrites what the user has, checks its outputs, bounds its memory, and
tells bad input (exit 2, one line) from bugs (exit 1), all through ``scope_deblur.cli.main``.
"""

import json
import os
import tracemalloc

import numpy as np
import pytest
import tifffile
from scope_deblur import methods
from scope_deblur.cli import _outputs, main
from scope_deblur.protocols import DefocusEstimate


class FixedEstimator:
    """Says 5 µm for every frame, with a defocus map (a stand-in for DelpNet)."""

    name = "fixed"

    def estimate(self, frame):
        return DefocusEstimate(5.0, 0.9, 1.0, np.full(np.shape(frame), 5.0, np.float32))


class FuncRestorer:
    """Restores with ``func(frame)``; ``calls`` counts the planes it was given."""

    def __init__(self, func, name="func"):
        self.func, self.name, self.calls = func, name, 0

    def restore(self, frame, estimate):
        self.calls += 1
        return self.func(np.asarray(frame, np.float32), self.calls - 1)


def halve(frame, k):
    return frame * 0.5


@pytest.fixture
def stand_ins(monkeypatch):
    """Replace the networks by stand-ins; return what the builders were asked for."""
    built = {"restorer": halve, "calls": []}

    def build_restorer(method, device="auto", *, profile=None, **kw):
        built["calls"].append(("restorer", method))
        return FuncRestorer(built["restorer"], name=method)

    def build_estimator(device="auto", *, pixel_um=None, profile=None):
        built["calls"].append(("estimator", pixel_um))
        return FixedEstimator()

    monkeypatch.setattr(methods, "build_restorer", build_restorer)
    monkeypatch.setattr(methods, "build_estimator", build_estimator)
    return built


def run(capsys, *args):
    """Run the CLI in this process; return (exit code, stdout, stderr lines)."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return e.value.code, out, [ln for ln in err.splitlines() if ln.strip()]


def one_line_error(capsys, *args, code=2):
    rc, _, lines = run(capsys, *args)
    assert rc == code, lines
    assert len(lines) == 1, lines
    return lines[0]


def stack(n=3, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(100, 1000, (n, h, w)).astype(np.uint16)


@pytest.fixture
def run_dir(tmp_path):
    """A run folder holding a raw OME-TIFF time-lapse, as `acquire --no-restore` leaves."""
    d = tmp_path / "run"
    d.mkdir()
    tifffile.imwrite(d / "raw.ome.tif", stack(), metadata={"axes": "TYX"})
    return d


# --- never overwrite what the user has ------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_restore_into_the_input_folder_never_overwrites_the_input(
    capsys, stand_ins, run_dir, overwrite
):
    raw = run_dir / "raw.ome.tif"
    before = raw.read_bytes()
    line = one_line_error(capsys, "restore", raw, "-o", run_dir, *overwrite)
    assert "raw.ome.tif" in line and "input" in line
    os.symlink(run_dir, run_dir.parent / "link")
    line = one_line_error(capsys, "restore", raw, "-o", run_dir.parent / "link", *overwrite)
    assert "raw.ome.tif" in line
    assert raw.read_bytes() == before and stand_ins["calls"] == []
    assert sorted(p.name for p in run_dir.iterdir()) == ["raw.ome.tif"]


def test_a_hard_link_to_an_input_is_an_input(capsys, stand_ins, run_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.link(run_dir / "raw.ome.tif", out / "raw.ome.tif")
    line = one_line_error(capsys, "restore", run_dir / "raw.ome.tif", "-o", out, "--overwrite")
    assert "is one of the inputs" in line


def test_inputs_with_one_stem_get_distinct_outputs(capsys, stand_ins, tmp_path):
    a, b = stack(1, seed=1)[0], stack(1, seed=2)[0]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    tifffile.imwrite(tmp_path / "a" / "x.tif", a)
    tifffile.imwrite(tmp_path / "b" / "x.tif", b)
    tifffile.imwrite(tmp_path / "X-2.tif", b)
    inputs = [tmp_path / "a" / "x.tif", tmp_path / "b" / "x.tif", tmp_path / "X-2.tif"]
    rc, out, _ = run(capsys, "restore", *inputs, "-o", tmp_path / "out", "--json")
    assert rc == 0
    outputs = [r["output"] for r in json.loads(out)]
    assert [os.path.basename(o) for o in outputs] == ["x.tif", "x-2.tif", "X-2-2.tif"]
    np.testing.assert_array_equal(tifffile.imread(outputs[0]), a * np.float32(0.5))
    np.testing.assert_array_equal(tifffile.imread(outputs[1]), b * np.float32(0.5))
    assert sorted(os.listdir(tmp_path / "out")) == ["X-2-2.tif", "x-2.tif", "x.tif"]


def test_an_existing_output_is_replaced_only_with_overwrite(capsys, stand_ins, run_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "raw.ome.tif").write_bytes(b"the user's")
    line = one_line_error(capsys, "restore", run_dir / "raw.ome.tif", "-o", out)
    assert str(out / "raw.ome.tif") in line and "--overwrite" in line
    assert (out / "raw.ome.tif").read_bytes() == b"the user's" and stand_ins["calls"] == []
    rc, _, _ = run(capsys, "restore", run_dir / "raw.ome.tif", "-o", out, "--overwrite")
    assert rc == 0
    with tifffile.TiffFile(out / "raw.ome.tif") as tif:
        assert tif.series[0].axes == "TYX"
        np.testing.assert_allclose(tif.series[0].asarray(), stack() * 0.5)


def test_a_read_only_output_folder_fails_before_any_model_loads(
    capsys, stand_ins, run_dir, tmp_path, monkeypatch
):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_outputs.tempfile, "NamedTemporaryFile", refuse)
    line = one_line_error(capsys, "restore", run_dir / "raw.ome.tif", "-o", tmp_path / "ro")
    assert f"-o folder {tmp_path / 'ro'}" in line and "Permission denied" in line
    line = one_line_error(capsys, "estimate", run_dir / "raw.ome.tif", "--map-dir", tmp_path)
    assert f"--map-dir folder {tmp_path}" in line
    assert stand_ins["calls"] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_exits_2(capsys, stand_ins, run_dir, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    line = one_line_error(capsys, "restore", run_dir / "raw.ome.tif", "-o", ro)
    assert str(ro) in line and stand_ins["calls"] == []


def test_map_dir_that_is_a_file_fails_before_work(capsys, stand_ins, run_dir):
    line = one_line_error(
        capsys, "estimate", run_dir / "raw.ome.tif", "--map-dir", run_dir / "raw.ome.tif"
    )
    assert "--map-dir must be a folder" in line and "raw.ome.tif" in line
    assert stand_ins["calls"] == []


def test_maps_of_one_stem_get_distinct_names(capsys, stand_ins, run_dir, tmp_path):
    (tmp_path / "b").mkdir()
    tifffile.imwrite(tmp_path / "b" / "raw.ome.tif", stack(1)[0])
    tifffile.imwrite(tmp_path / "raw.ome.tif", stack(1)[0])
    inputs = [run_dir / "raw.ome.tif", tmp_path / "b" / "raw.ome.tif", tmp_path / "raw.ome.tif"]
    maps = tmp_path / "maps"
    assert run(capsys, "estimate", *inputs, "--map-dir", maps)[0] == 0
    stack_maps = [f"raw.ome_p{k}_defocus.png" for k in range(3)]
    plane_maps = ["raw.ome_defocus.png", "raw.ome_defocus-2.png"]
    assert sorted(os.listdir(maps)) == sorted(stack_maps + plane_maps)
    assert "exists" in one_line_error(capsys, "estimate", *inputs, "--map-dir", maps)
    assert run(capsys, "estimate", *inputs, "--map-dir", maps, "--overwrite")[0] == 0


class Crash(BaseException):
    """Stands for the process being killed in the middle of a write."""


def test_a_crash_mid_write_leaves_no_half_file(capsys, stand_ins, run_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "raw.ome.tif").write_bytes(b"the previous result")

    def crash_on_plane_2(frame, k):
        if k == 2:
            raise Crash
        return frame

    stand_ins["restorer"] = crash_on_plane_2
    with pytest.raises(Crash):
        main(["restore", str(run_dir / "raw.ome.tif"), "-o", str(out), "--overwrite"])
    assert os.listdir(out) == ["raw.ome.tif"]
    assert (out / "raw.ome.tif").read_bytes() == b"the previous result"


# --- outputs are checked ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (lambda f: np.full_like(f, np.nan), "NaN or infinite"),
        (lambda f: np.full_like(f, np.inf), "NaN or infinite"),
        (lambda f: f[:-1], "shape"),
        (lambda f: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_a_plane_the_restorer_fails_on_is_kept_unrestored_and_exits_1(
    capsys, stand_ins, run_dir, tmp_path, bad, needle
):
    stand_ins["restorer"] = lambda frame, k: bad(frame) if k == 1 else frame * 0.5
    rc, out, lines = run(capsys, "restore", run_dir / "raw.ome.tif", "-o", tmp_path, "--json")
    assert rc == 1
    assert "failed on 1 of 3 planes" in lines[-1] and needle in lines[-1]
    assert "raw.ome.tif plane 1" in lines[-1]
    results = json.loads(out)
    assert ["error" in r for r in results] == [False, True, False]
    assert needle in results[1]["error"]
    restored, raw = tifffile.imread(tmp_path / "raw.ome.tif"), stack().astype(np.float32)
    assert restored.dtype == np.float32
    np.testing.assert_array_equal(restored, [raw[0] * 0.5, raw[1], raw[2] * 0.5])


# --- bounded memory ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixel", "needles"),
    [("20", ["16124×21581", "55.7 GB"]), ("1000", ["806202×1079070", "1.39e+05 GB"])],
)
def test_a_pixel_size_that_would_not_fit_is_refused_with_the_size(
    capsys, stand_ins, tmp_path, monkeypatch, pixel, needles
):
    monkeypatch.setenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", "16")
    tifffile.imwrite(tmp_path / "frame.tif", np.ones((520, 696), np.uint16))
    line = one_line_error(capsys, "estimate", tmp_path / "frame.tif", "--pixel-size", pixel)
    assert line.startswith(f"scope-deblur: error: {tmp_path / 'frame.tif'}: estimating a 520×696")
    assert all(n in line for n in needles) and "budget of 16 GB" in line
    assert stand_ins["calls"] == []


def test_the_default_budget_is_half_the_physical_memory(monkeypatch):
    from scope_deblur.budget import memory_budget

    monkeypatch.delenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", raising=False)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert memory_budget() == ram // 2


@pytest.mark.parametrize("pixel", ["0", "inf", "-1", "nan"])
def test_a_pixel_size_must_be_positive(capsys, stand_ins, run_dir, pixel):
    rc, _, lines = run(capsys, "estimate", run_dir / "raw.ome.tif", "--pixel-size", pixel)
    assert rc == 2 and "--pixel-size" in "".join(lines)
    assert stand_ins["calls"] == []


def test_the_budget_comes_from_the_environment(capsys, stand_ins, run_dir, monkeypatch):
    monkeypatch.setenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", "0.0001")
    line = one_line_error(capsys, "estimate", run_dir / "raw.ome.tif")
    assert "budget of 0.0001 GB (from SCOPE_DEBLUR_MEMORY_BUDGET_GB)" in line
    monkeypatch.setenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", "0.3")  # estimating fits, restoring not
    line = one_line_error(capsys, "restore", run_dir / "raw.ome.tif", "-o", run_dir / "o")
    assert "raw.ome.tif: restoring a 24×32 plane" in line and not (run_dir / "o").exists()
    monkeypatch.setenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", "lots")
    line = one_line_error(capsys, "estimate", run_dir / "raw.ome.tif")
    assert "SCOPE_DEBLUR_MEMORY_BUDGET_GB must be a positive number" in line and "lots" in line
    assert stand_ins["calls"] == []


def test_a_stack_is_restored_without_holding_it(capsys, stand_ins, tmp_path):
    big = stack(n=128, h=128, w=128)
    tifffile.imwrite(tmp_path / "big.tif", big, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "small.tif", big[:2], metadata={"axes": "ZYX"})
    assert run(capsys, "restore", tmp_path / "small.tif", "-o", tmp_path / "out")[0] == 0
    as_float32 = big.size * 4
    tracemalloc.start()
    try:
        rc, _, _ = run(capsys, "restore", tmp_path / "big.tif", "-o", tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rc == 0
    assert peak < as_float32 / 4, f"peak {peak} bytes for a {as_float32}-byte stack"
    with tifffile.TiffFile(tmp_path / "out" / "big.tif") as tif:
        assert tif.series[0].axes == "ZYX" and len(tif.pages) == 128
        np.testing.assert_array_equal(tif.series[0].asarray(), big * np.float32(0.5))


# --- exit codes: bad input 2, bugs 1 ----------------------------------------------------


@pytest.mark.parametrize("error", [KeyError("k"), TypeError("t"), RuntimeError("r")])
def test_programming_errors_exit_1_and_say_so(capsys, run_dir, monkeypatch, error):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(methods, "build_estimator", broken)
    line = one_line_error(capsys, "estimate", run_dir / "raw.ome.tif", code=1)
    assert line.startswith(f"scope-deblur: internal error: {type(error).__name__}")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("", ["empty.json", "Invalid JSON"]),
        ('{"optics": {"na": -1}}', ["field 'optics.na'", "greater than 0", "-1"]),
        ('{"optics": {"na": 0.5}, "colour": 1}', ["field 'colour'", "Extra inputs"]),
        (b"\xff\xfe\x00", ["empty.json", "Invalid JSON"]),
    ],
)
def test_an_invalid_optics_profile_names_the_field(capsys, stand_ins, run_dir, text, needles):
    path = run_dir / "empty.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = one_line_error(capsys, "estimate", run_dir / "raw.ome.tif", "--profile", path)
    assert "optics profile" in line and all(n in line for n in needles)
    assert stand_ins["calls"] == []


def test_a_directory_where_a_file_is_expected(capsys, stand_ins, run_dir):
    line = one_line_error(capsys, "estimate", run_dir)
    assert f"{run_dir} is a directory" in line
    line = one_line_error(capsys, "estimate", run_dir / "raw.ome.tif", "--profile", run_dir)
    assert f"optics profile {run_dir} is a directory" in line


@pytest.mark.parametrize(
    "data",
    [b"", b"II*\x00" + b"\x00garbage" * 10, b"MM\x00*\x00\x00\x00\x08" + b"\xff" * 64],
)
def test_a_tiff_tifffile_cannot_parse_names_the_file(capsys, stand_ins, tmp_path, data):
    (tmp_path / "broken.tif").write_bytes(data)
    line = one_line_error(capsys, "restore", tmp_path / "broken.tif", "-o", tmp_path / "o")
    assert "broken.tif" in line and not (tmp_path / "o").exists()


def test_a_corrupt_page_deep_in_a_stack_names_the_file(capsys, stand_ins, tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack(4), compression="zlib", photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[3].dataoffsets[0]
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\x00" * 16
    path.write_bytes(bytes(data))
    line = one_line_error(capsys, "restore", path, "-o", tmp_path / "o")
    assert "stack.tif page 3" in line and not (tmp_path / "o").exists()


def test_an_empty_micro_manager_config_exits_2(capsys, tmp_path):
    (tmp_path / "empty.cfg").write_text("")
    (tmp_path / "seq.yaml").write_text("time_plan:\n  interval: 0\n  loops: 2\n")
    args = ["--config", tmp_path / "empty.cfg", "--sequence", tmp_path / "seq.yaml"]
    line = one_line_error(capsys, "acquire", *args, "--out", tmp_path / "o", "--no-restore")
    assert "empty.cfg" in line
