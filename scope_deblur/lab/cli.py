"""``scope-deblur train``, ``evaluate`` and ``bench``: the lab's commands.

Each is an entry point of the group ``scope_deblur.commands``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import typer

from ..cli.common import bar, err, print_json

__all__ = ["bench", "evaluate", "train"]


def _sizes(text: str) -> list[int | tuple[int, int]]:
    """Parse ``512,520x696``: sides of square frames or ``HxW`` pairs."""
    sizes: list[int | tuple[int, int]] = []
    try:
        for item in filter(None, (s.strip().lower() for s in text.split(","))):
            h, x, w = item.partition("x")
            sizes.append((int(h), int(w)) if x else int(h))
    except ValueError:
        raise ValueError(
            f"--sizes must be comma-separated sides or HxW pairs (512,520x696), got {text!r}"
        ) from None
    sides = [s for size in sizes for s in (size if isinstance(size, tuple) else (size,))]
    if not sides or min(sides) < 16:
        raise ValueError(f"--sizes must list frame sides of at least 16 px, got {text!r}")
    return sizes


def _rates(text: str) -> list[float]:
    try:
        rates = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise ValueError(
            f"--fps must be comma-separated frame rates (10,20,50), got {text!r}"
        ) from None
    if not rates or min(rates) <= 0:
        raise ValueError(f"--fps must list positive frame rates, got {text!r}")
    return rates


def _z_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--z-range must be LO,HI in um (8,12), got {text!r}") from None
    if not 0 <= lo < hi <= 200:
        raise ValueError(f"--z-range must satisfy 0 <= LO < HI <= 200 um, got {text!r}")
    return lo, hi


def _levels(max_um: float) -> list[float]:
    return [float(z) for z in range(0, int(max_um) + 1, 2)]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def train(
    model: str = typer.Argument(
        ..., help="delpnet, fusion, comi, m-deblurgan, or ablation (fusion N=1..4 x mode)."
    ),
    data: Path = typer.Option(
        None,
        help="delpnet/fusion/m-deblurgan/ablation: folder of in-focus training images.",
    ),
    sharp: Path = typer.Option(None, help="comi: folder of sharp (in-focus) images, unpaired."),
    blurred: Path = typer.Option(None, help="comi: folder of real defocused images, unpaired."),
    sim_fraction: float = typer.Option(
        None, min=0.0, max=1.0, help="comi: fraction of simulated blurred crops (default 0.25)."
    ),
    blocks: int = typer.Option(
        None, min=1, max=12, help="comi: residual blocks of the generator (default 9)."
    ),
    paired_weight: float = typer.Option(
        None, min=0.0, help="comi: weight of the L1 loss on the simulated pairs (default 10)."
    ),
    out: Path = typer.Option(..., help="Output path stem, e.g. models/delpnet."),
    minutes: float = typer.Option(None, help="Wall-clock cap (default none: run all steps)."),
    steps: int = typer.Option(None, min=1, help="Step budget (default: as shipped)."),
    seed: int = typer.Option(0, min=0, help="Seed of the data and the initial weights."),
    conditioned: bool = typer.Option(
        False, "--conditioned", help="fusion: condition the network on the defocus estimate."
    ),
    wiener: bool = typer.Option(
        False, "--wiener", help="fusion: also feed the frame Wiener-deconvolved at the estimate."
    ),
    rl_plane: bool = typer.Option(
        False,
        "--rl-plane",
        help="fusion: known optics; feed the frame RL-deconvolved by the true PSF (--profile).",
    ),
    rl_iterations: int = typer.Option(
        None, min=1, max=200, help="fusion --rl-plane: RL iterations of the plane (default 30)."
    ),
    width: int = typer.Option(
        None,
        min=4,
        max=64,
        help="fusion/comi/m-deblurgan: channels of the first level (16; comi 12; m-deblurgan 20).",
    ),
    init: Path = typer.Option(
        None, help="fusion: start from these weights (same tensor shapes), e.g. models/fusion."
    ),
    lr: float = typer.Option(
        None,
        min=1e-6,
        max=1.0,
        help="fusion/comi/m-deblurgan: peak learning rate (2e-3; comi 5e-4; m-deblurgan 1e-3).",
    ),
    z_range: str = typer.Option(
        None, help="fusion: train a per-level specialist on defocus LO,HI um (default 0-40)."
    ),
    val_image: str = typer.Option(
        None, help="fusion: the well held out of training (default a07), e.g. a03."
    ),
    max_um: float = typer.Option(
        None, min=2, max=200, help="delpnet: deepest level, levels 2 um apart (default 40)."
    ),
    forward: str = typer.Option(
        None, help="delpnet: training forward model, born_wolf (default), mixture or paper."
    ),
    no_bg: bool = typer.Option(False, "--no-bg", help="delpnet: no 'bg' class (ablation)."),
    variants: str = typer.Option(
        None, help="ablation: comma-separated variants to run, merged into OUT/ablation.json."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(
        None, min=1, help="fusion/ablation: CPU threads (default torch's; delpnet uses 1)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the training metrics as JSON."),
) -> None:
    """Train a network on synthetic defocus of in-focus images, or COMI on unpaired real ones."""
    if model == "comi":
        comi = {"width": width, "n_blocks": blocks, "sim_fraction": sim_fraction, "lr": lr}
        _train_comi(sharp, blurred, out, steps, minutes, seed, threads, paired_weight, comi)
        return
    if model == "m-deblurgan":
        _train_mdeblurgan(data, out, steps, minutes, seed, threads, width, lr, json_)
        return
    if data is None or not data.is_dir():
        raise NotADirectoryError(f"--data must be a folder of in-focus images: {data}")
    for flag, given in (
        ("--sharp", sharp),
        ("--blurred", blurred),
        ("--sim-fraction", sim_fraction),
        ("--blocks", blocks),
        ("--paired-weight", paired_weight),
    ):
        if given is not None:
            raise ValueError(f"{flag} applies to comi only")
    kwargs: dict[str, object] = {"seed": seed, "device": device, "progress": not json_}
    if minutes is not None:
        kwargs["minutes"] = minutes
    if steps is not None:
        kwargs["steps"] = steps
    if threads is not None:
        if model == "delpnet":
            raise ValueError("--threads applies to fusion and ablation; delpnet uses 1 thread")
        kwargs["threads"] = threads
    specific = [  # (flag, the model it applies to, keyword, value; None: not given)
        ("--conditioned", "fusion", "conditioned", True if conditioned else None),
        ("--wiener", "fusion", "wiener", True if wiener else None),
        ("--rl-plane", "fusion", "rl_plane", True if rl_plane else None),
        ("--rl-iterations", "fusion", "rl_iterations", rl_iterations),
        ("--init", "fusion", "init", init),
        ("--lr", "fusion", "lr", lr),
        ("--width", "fusion", "base_width", width),
        ("--z-range", "fusion", "z_range", None if z_range is None else _z_range(z_range)),
        ("--val-image", "fusion", "val_image", val_image),
        ("--max-um", "delpnet", "levels_um", None if max_um is None else _levels(max_um)),
        ("--forward", "delpnet", "forward", forward),
        ("--no-bg", "delpnet", "background_class", False if no_bg else None),
        ("--variants", "ablation", "variants", None if variants is None else _names(variants)),
    ]
    for flag, owner, key, value in specific:
        if value is not None:
            if model != owner:
                raise ValueError(f"{flag} applies to {owner} only")
            kwargs[key] = value
    if model == "delpnet":
        from .training._delpnet import train_delpnet

        metrics = train_delpnet(data, out, **kwargs)  # type: ignore[arg-type]
    elif model == "fusion":
        from .training._fusion import train_fusion

        metrics = train_fusion(data, out, **kwargs)  # type: ignore[arg-type]
    elif model == "ablation":
        from .training._ablation import run_ablation

        if minutes is not None:
            raise ValueError("--minutes does not apply to the ablation; give --steps")
        kwargs.pop("progress")
        with bar("ablation") as (update,):
            metrics = run_ablation(data, out, progress=update, **kwargs)
    else:
        raise ValueError(
            f"unknown model {model!r}; choose delpnet, fusion, comi, m-deblurgan or ablation"
        )
    if json_:
        print_json(metrics)
    else:
        wrote = (
            Path(out) / "ablation.json"
            if model == "ablation"
            else Path(out).with_suffix(".safetensors")
        )
        err.print(f"wrote {wrote}" + ("" if model == "ablation" else " and its card"))


def _train_comi(
    sharp: Path | None,
    blurred: Path | None,
    out: Path,
    steps: int | None,
    minutes: float | None,
    seed: int,
    threads: int | None,
    paired_weight: float | None,
    options: Mapping[str, float | int | None],
) -> None:
    """``train comi``: CycleGAN on unpaired sharp and blurred folders (1 thread by default)."""
    from .training._comi import train_comi

    for flag, folder in (("--sharp", sharp), ("--blurred", blurred)):
        if folder is None or not folder.is_dir():
            raise NotADirectoryError(f"comi needs {flag} as a folder of images: {folder}")
    kwargs: dict[str, object] = {"seed": seed, "minutes": minutes, "threads": threads or 1}
    given = {"steps": steps, "paired_weight": paired_weight, **options}
    kwargs |= {k: v for k, v in given.items() if v is not None}
    train_comi(sharp, blurred, out, **kwargs)  # type: ignore[arg-type]
    err.print(f"wrote {Path(out).with_suffix('.safetensors')} and its card")


def _train_mdeblurgan(
    data: Path | None,
    out: Path,
    steps: int | None,
    minutes: float | None,
    seed: int,
    threads: int | None,
    width: int | None,
    lr: float | None,
    json_: bool,
) -> None:
    """``train m-deblurgan``: binned defocused frames to sharp 2x frames (synthetic pairs)."""
    from .training import train_mdeblurgan

    if data is None or not data.is_dir():
        raise NotADirectoryError(f"--data must be a folder of in-focus images: {data}")
    kwargs: dict[str, object] = {"seed": seed, "progress": not json_}
    given = {"steps": steps, "minutes": minutes, "threads": threads, "width": width, "lr": lr}
    kwargs |= {k: v for k, v in given.items() if v is not None}
    if steps is not None and minutes is None:
        kwargs["minutes"] = None  # the steps alone: exactly reproducible
    card = train_mdeblurgan(data, out, **kwargs)  # type: ignore[arg-type]
    if json_:
        print_json(card)
    else:
        err.print(f"wrote {Path(out).with_suffix('.safetensors')} and its card")


def evaluate(
    model: str = typer.Argument(
        "all",
        help="delpnet, fusion, comi, m-deblurgan, wells (cross-validation) or all "
        "(delpnet and fusion).",
    ),
    figure: Path = typer.Option(Path("evaluation"), help="Folder for the figures."),
    seed: int = typer.Option(0, min=0, help="Seed of the synthetic test set."),
    weights: str = typer.Option(
        "fusion",
        help="fusion, comi or m-deblurgan: weights to score (shipped name or .safetensors path).",
    ),
    steps: int = typer.Option(
        None, min=1, help="wells: training steps per fold (the shipped networks took 16000)."
    ),
    wells: str = typer.Option(None, help="wells: comma-separated wells to leave out (all)."),
    peer: str = typer.Option(None, help="wells: also train and score this peer: care."),
    peer_env: Path = typer.Option(
        None, help="wells --peer care: CARE's environment (~/.cache/scope-deblur/peer-care)."
    ),
    work: Path = typer.Option(
        None, help="wells: folder for the fold models, reused by a rerun (~/.cache/scope-deblur)."
    ),
    threads: int = typer.Option(None, min=1, help="wells: CPU threads (default torch's)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Evaluate the networks on held-out synthetic data and real BBBC006 images.

    ``wells`` cross-validates the fusion recipe by well instead.
    """
    if model not in ("delpnet", "fusion", "comi", "m-deblurgan", "wells", "all"):
        raise ValueError(
            f"unknown model {model!r}; choose delpnet, fusion, comi, m-deblurgan, wells or all"
        )
    given = {"--steps": steps, "--wells": wells, "--peer": peer, "--work": work}
    if model != "wells" and any(v is not None for v in given.values()):
        raise ValueError(f"{next(k for k, v in given.items() if v is not None)} applies to wells")
    if model == "wells":
        _evaluate_wells(figure, steps, wells, peer, peer_env, work, seed, threads, json_)
        return
    results = {}
    if model == "m-deblurgan":
        sr = "m-deblurgan" if weights == "fusion" else weights
        results = _evaluate_mdeblurgan(figure, seed, sr, device)
    if model == "comi":
        results = _evaluate_comi(figure, seed, "comi" if weights == "fusion" else weights, device)
    if model in ("delpnet", "all"):
        from .report import plot_confusion
        from .training._delpnet import evaluate_delpnet

        results["delpnet"] = res = evaluate_delpnet(seed=seed, device=device)
        panels = {
            f"{title}: {res[key]['foreground_within_2um']:.0%} within ±2 µm": res[key]["confusion"]
            for key, title in (
                ("synthetic_born_wolf", "held-out a07, Born–Wolf"),
                ("synthetic_randomised", "held-out a07, randomised optics"),
            )
        }
        res["figure"] = str(
            plot_confusion(panels, res["classes"], figure / "delpnet_confusion.png")
        )
    if model in ("fusion", "all"):
        from ..weights import load_card
        from .evaluation import evaluate_do_no_harm, evaluate_real, evaluate_restoration

        load_card(weights)  # a missing or unreadable model fails here, before any work
        figure.mkdir(parents=True, exist_ok=True)
        methods = ("input", "rl", "awdvd", "fusion" if weights == "fusion" else f"fusion:{weights}")
        results["restoration_synthetic"] = evaluate_restoration(methods, seed=seed, device=device)
        results["restoration_synthetic_family"] = evaluate_restoration(
            methods, seed=seed, device=device, forward="family"
        )
        results["restoration_synthetic_family_known"] = evaluate_restoration(
            methods, seed=seed, device=device, forward="family", known_optics=True
        )
        results["do_no_harm"] = evaluate_do_no_harm(weights, seed=seed, device=device)
        results["restoration_real_z00"] = evaluate_real(
            figure / "real_z00.png", weights=weights, device=device
        )
    if json_:
        print_json(results)
    else:
        err.print_json(data=results)


def _evaluate_wells(
    figure: Path,
    steps: int | None,
    wells: str | None,
    peer: str | None,
    peer_env: Path | None,
    work: Path | None,
    seed: int,
    threads: int | None,
    json_: bool,
) -> None:
    """``evaluate wells``: leave-one-well-out cross-validation, written to FIGURE."""
    from .crossval import cross_validate, plot_cross_validation

    if steps is None:
        raise ValueError("wells needs --steps (per fold; the shipped networks took 16000)")
    if peer not in (None, "care"):
        raise ValueError(f"--peer must be care, got {peer!r}")
    figure.mkdir(parents=True, exist_ok=True)
    with bar("cross-validating") as (update,):
        result = cross_validate(
            steps,
            wells=None if wells is None else _names(wells),
            work=work or Path.home() / ".cache" / "scope-deblur" / "crossval",
            peer=peer,
            peer_env=peer_env,
            seed=seed,
            threads=threads,
            progress=update,
        )
    result["figure"] = str(plot_cross_validation(result, figure / "evaluation_wells.png"))
    (figure / "evaluation_wells.json").write_text(json.dumps(result, indent=2) + "\n")
    if json_:
        print_json(result)
    else:
        err.print_json(data=result["summary"])
        err.print(f"wrote {figure / 'evaluation_wells.json'} and {result['figure']}")


def _evaluate_mdeblurgan(figure: Path, seed: int, weights: str, device: str) -> dict:
    """``evaluate m-deblurgan``: binned synthetic a07 per depth, real binned frames, latency."""
    from ..weights import load_card
    from .evaluation_mdeblurgan import (
        evaluate_mdeblurgan_real,
        evaluate_mdeblurgan_synthetic,
        latency_mdeblurgan,
        plot_mdeblurgan,
    )

    load_card(weights)  # a missing or unreadable model fails here, before any work
    figure.mkdir(parents=True, exist_ok=True)
    with bar("evaluating m-deblurgan") as (update,):
        update(0, 4)
        born_wolf = evaluate_mdeblurgan_synthetic(
            seed=seed, weights=weights, device=device, keep=(10, 28)
        )
        frames = born_wolf.pop("frames")
        update(1, 4)
        family = evaluate_mdeblurgan_synthetic(
            seed=seed, weights=weights, device=device, forward="family"
        )
        family.pop("frames")
        update(2, 4)
        real = evaluate_mdeblurgan_real(weights=weights, device=device)
        update(3, 4)
        latency = latency_mdeblurgan(weights=weights)
        update(4, 4)
    return {
        "weights": weights,
        "synthetic_born_wolf": born_wolf,
        "synthetic_family": family,
        "real": real,
        "latency_256_to_512": latency,
        "figure": str(plot_mdeblurgan(frames, figure / "mdeblurgan.png")),
    }


def _evaluate_comi(figure: Path, seed: int, weights: str, device: str) -> dict:
    """``evaluate comi``: synthetic tables beside RL and fusion, and the real frames."""
    from ..weights import load_card
    from .evaluation import evaluate_restoration
    from .evaluation_comi import evaluate_comi_real

    load_card(weights)  # a missing or unreadable model fails here, before any work
    figure.mkdir(parents=True, exist_ok=True)
    comi = "comi" if weights == "comi" else f"comi:{weights}"
    raw = "comi_raw" if weights == "comi" else comi  # the network without its gates
    methods = tuple(dict.fromkeys(("input", "rl", "fusion", comi, raw)))
    return {
        "restoration_synthetic": evaluate_restoration(methods, seed=seed, device=device),
        "restoration_synthetic_family": evaluate_restoration(
            methods, seed=seed, device=device, forward="family"
        ),
        "restoration_real_z00": evaluate_comi_real(
            figure / "comi_real.png", weights=weights, device=device
        ),
    }


def bench(
    sizes: str = typer.Option("512,520x696,1024,2048", help="Frame sides, or HxW pairs, to time."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    repeats: int = typer.Option(5, min=1, help="Timed repetitions per stage."),
    live: bool = typer.Option(False, "--live", help="Live throughput on the demo instead."),
    fps: str = typer.Option("10,20,50", help="With --live: frame rates to stream."),
    frames: int = typer.Option(100, min=2, help="With --live: frames per stream."),
    soak: int = typer.Option(
        None, min=20, help="Soak: stream this many demo frames at top rate; watch memory."
    ),
    soak_out: Path = typer.Option(
        None, help="With --soak: keep the run here, and write soak.json and soak.png beside it."
    ),
    writers: int = typer.Option(
        None,
        min=20,
        help="Write this many frames (the first --sizes side) through each OME-Zarr backend "
        "of ome-writers; time and memory.",
    ),
    method: str = typer.Option(
        "fusion",
        help="The network to time: fusion, fusion-fast, comi or m-deblurgan (--soak: any method).",
    ),
    compile_: bool = typer.Option(
        False, "--compile", help="Compile the fusion network first (faster; 15-30 s once)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Time restoration per frame size; or live throughput, a soak, or the raw writers."""
    from ..methods import FUSION_METHODS, METHODS
    from .bench import bench_latency, bench_live, bench_soak, bench_writers

    if writers is not None:
        side = _sizes(sizes)[0]
        if not isinstance(side, int):
            raise ValueError(f"--sizes: --writers takes a square frame's side, got {sizes!r}")
        with bar("writing") as (update,):
            update(0, 1)
            result = bench_writers(writers, side)
            update(1, 1)
        if json_:
            print_json(result)
        else:
            err.print_json(data=result)
        return

    if soak is not None:
        if method not in METHODS:
            raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
        with bar("soaking") as (update,):
            result = bench_soak(soak, method=method, device=device, out=soak_out, progress=update)
        if soak_out is not None:
            from .report import plot_soak

            (soak_out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
            result["plot"] = str(plot_soak(result, soak_out / "soak.png"))
        shown = {k: v for k, v in result.items() if k != "samples"}
        if json_:
            print_json(shown)
        else:
            err.print_json(data=shown)
        return
    # Bad input fails here, before any progress bar.
    frame_sizes, rates = _sizes(sizes), _rates(fps)
    if method not in (*FUSION_METHODS, "comi", "m-deblurgan"):
        raise ValueError(
            f"--method must be one of {', '.join(FUSION_METHODS)}, comi, m-deblurgan, "
            f"got {method!r}"
        )
    with bar("benchmarking") as (update,):
        if live:
            result = bench_live(
                rates,
                frames=frames,
                method=method,
                device=device,
                compile=compile_,
                progress=update,
            )
        else:
            result = bench_latency(
                frame_sizes,
                device=device,
                repeats=repeats,
                method=method,
                compile=compile_,
                progress=update,
            )
    if json_:
        print_json(result)
    else:
        err.print_json(data=result)
