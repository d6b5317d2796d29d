"""Model files of both kinds (classifiers and regressors in ``models``, reconstruction models in
``reconstruction``): zip archives of ``metadata.json``, ``.npy`` arrays (read without pickle)
and each backend's own safe format, every member checked by SHA-256, written atomically.

``file_metadata`` is the metadata every model file starts with; ``write_archive`` and
``read_archive`` write and check an archive; ``npy_bytes`` / ``npy_array`` turn arrays into
members and back.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from larch_motif.errors import ModelFileError
from larch_motif.spectra import Preprocessing


def file_metadata(fmt: str, fmt_version: int, element: str, edge: str, backend, preprocessing: Preprocessing,
                  backend_params: dict | None, random_state: int, n_features: int,
                  energy_grid_eV: np.ndarray) -> dict:
    """What every model file records first: its format and version, the package version, the
    element and edge, the backend (name, parameters, random state, library versions), the
    number of features, the preprocessing and the energy grid (eV from E0) of the model's
    features (classifiers) or outputs (reconstruction)."""
    return {
        "format": fmt, "format_version": fmt_version,
        "larch_motif_version": importlib.metadata.version("larch_motif"),
        "element": element, "edge": edge, "backend": backend.name,
        "backend_params": backend_params or {}, "random_state": random_state, "n_features": int(n_features),
        "preprocessing": preprocessing.as_dict(), "energy_grid_eV": np.asarray(energy_grid_eV, float).tolist(),
        "library_versions": backend.versions(),
    }


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as the bytes of a ``.npy`` member (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def npy_array(data: bytes) -> np.ndarray:
    """A ``.npy`` member read back, refusing pickled objects."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def write_archive(path: str | Path, meta: dict, members: dict[str, bytes]) -> Path:
    """Write a model archive: ``metadata.json`` (``meta`` plus the SHA-256 of every member) and
    the members (``.npy`` arrays, JSON, a backend's own format), atomically."""
    path = Path(path)
    meta = {**meta, "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps(meta, indent=1))
        for name, data in members.items():
            zf.writestr(name, data)
    tmp.replace(path)
    return path


def read_archive(path: str | Path, fmt: str, fmt_version: int, names: tuple[str, ...],
                 optional: tuple[str, ...] = ()) -> tuple[dict, dict[str, bytes]]:
    """Read a model archive of format ``fmt``: its metadata and the members ``names`` (and those
    of ``optional`` that it holds), each checked against its SHA-256; a foreign, tampered or
    incompatible file raises ``ModelFileError``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
            kind = meta.get("format") if isinstance(meta, dict) else None
            if isinstance(kind, str) and kind != fmt and kind.startswith("larch_motif"):
                raise ModelFileError(f"{path}: a {kind} file, not a {fmt} file")
            members = {name: zf.read(name) for name in names}
            held = set(zf.namelist())
            members.update({name: zf.read(name) for name in optional if name in held})
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not a larch_motif model file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ModelFileError(f"{path}: not a larch_motif model file")
    if meta.get("format_version") != fmt_version:
        raise ModelFileError(
            f"{path}: model format version {meta.get('format_version')} written by larch_motif "
            f"{meta.get('larch_motif_version')}; this larch_motif "
            f"{importlib.metadata.version('larch_motif')} reads version {fmt_version}")
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != meta.get("sha256", {}).get(name):
            raise ModelFileError(f"{path}: checksum mismatch in {name}: the file was altered")
    return meta, members
