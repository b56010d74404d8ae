"""The one error a missing dataset raises: it says where robustlens looked and how to fix it.

Why a dedicated class: robustlens never downloads anything at run time (offline clusters,
reproducibility), so a missing dataset is a setup problem the user must fix by hand; the
message must tell them exactly which paths and file names are expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the datamodule looked.

    Args:
        dataset: the dataset's name (e.g. ``"MNIST"``).
        data_dir: the data root that was searched.
        looked_for: every path that was tried (each missing one is listed).
        layout: the expected layout under ``data_dir`` (one line per file or folder).
        source: where to get a copy (the project's shared folder, or the official site).
    """

    def __init__(
        self,
        dataset: str,
        data_dir: Path,
        looked_for: Sequence[Path],
        layout: Sequence[str],
        source: str = "copy ../shared/data (MNIST, FashionMNIST) into ./data",
    ):
        self.dataset = dataset
        self.data_dir = Path(data_dir)
        self.looked_for = [Path(p) for p in looked_for]
        lines = [
            f"{dataset} not found under data_dir={self.data_dir}.",
            "Looked for (missing):",
            *(f"  - {p}" for p in self.looked_for),
            "Expected layout:",
            *(f"  {self.data_dir}/{entry}" for entry in layout),
            "How to provide it: set `data.data_dir=/path/to/data` on the command line (or the "
            f"environment variable ROBUSTLENS_DATA_DIR) to a folder with that layout, or {source}. "
            "robustlens never downloads datasets.",
        ]
        super().__init__("\n".join(lines))
