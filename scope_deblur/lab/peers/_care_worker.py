"""Train CARE for a wall-time budget and restore test frames (runs in CARE's environment).

Usage: ``python _care_worker.py JOB.npz OUT.npz WORKDIR``. JOB holds ``x``/``y``
training pairs and ``x_val``/``y_val`` (N, H, W, normalised), ``tests`` (M, H, W,
normalised), ``minutes``, ``seed`` and ``threads`` (0: TensorFlow's default); OUT
gets ``preds`` (M, H, W) and ``minutes`` (training wall time). Imports numpy,
tensorflow, keras and csbdeep only: not scope_deblur.
"""

import sys
import time

import keras
import numpy as np
from csbdeep.models import CARE, Config


class WallTime(keras.callbacks.Callback):
    """Stop training when the wall-time budget is spent."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.perf_counter() + seconds

    def on_train_batch_end(self, batch, logs=None) -> None:
        if time.perf_counter() > self.deadline:
            self.model.stop_training = True


def main(job_path: str, out_path: str, work: str) -> None:
    job = np.load(job_path)
    if int(job["threads"]) > 0:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(job["threads"]))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(int(job["seed"]))
    config = Config(
        "YX",
        n_channel_in=1,
        n_channel_out=1,
        unet_n_depth=2,
        train_batch_size=16,
        train_steps_per_epoch=50,
        train_epochs=100000,  # the wall-time budget ends training
        train_tensorboard=False,
    )
    model = CARE(config, "care", basedir=work)
    model.prepare_for_training()
    model.callbacks.append(WallTime(float(job["minutes"]) * 60))
    t0 = time.perf_counter()
    model.train(
        job["x"][..., None],
        job["y"][..., None],
        validation_data=(job["x_val"][..., None], job["y_val"][..., None]),
    )
    minutes = (time.perf_counter() - t0) / 60
    preds = np.stack([model.predict(t, "YX", normalizer=None) for t in job["tests"]])
    np.savez(out_path, preds=preds.astype(np.float32), minutes=np.float64(minutes))


if __name__ == "__main__":
    main(*sys.argv[1:4])
