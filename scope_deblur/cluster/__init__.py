"""Restore whole archives on a Dask cluster (``restore --workers N`` / ``--scheduler``).

Needs the ``cluster`` extra (``distributed``); importing this package does not import it.
"""

from ._driver import WORK_FOLDER, ClusterJob, restore_on_cluster
from ._work import RestoreSpec, restore_plane_task

__all__ = ["WORK_FOLDER", "ClusterJob", "RestoreSpec", "restore_on_cluster", "restore_plane_task"]
