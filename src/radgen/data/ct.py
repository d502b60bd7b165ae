"""CT volumes as 2-D axial slices in Hounsfield units, windowed to [0, 1].

DICOM series (one patient's folder, as in TCIA Pancreas-CT): HU = stored value x
RescaleSlope + RescaleIntercept; slices are ordered by ImagePositionPatient[2] (the
patient z coordinate), not by time tags, which need not be consistent (MANIFEST 6).
NIfTI volumes: reoriented to the closest canonical RAS+ orientation with nibabel, then
cut along the superior axis and turned to radiological display (anterior up, patient
left on the image right). Window: ``window='soft_tissue'`` (W400/L40) by default; a
preset name or ``[width, level]``. ``stride`` keeps every k-th slice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from radgen.data.base import ImageSet
from radgen.data.source import ReadContext, Record, Source, build_imageset, progress
from radgen.data.transforms import Preprocess
from radgen.errors import BadFileError, ConfigError, DataError

log = logging.getLogger(__name__)

# (width, level) in HU; common radiology presets
WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (400.0, 40.0),
    "abdomen": (350.0, 50.0),
    "lung": (1500.0, -600.0),
    "mediastinum": (350.0, 50.0),
    "bone": (1800.0, 400.0),
    "brain": (80.0, 40.0),
}


HU_LIMIT = 1e6  # |HU| beyond this is no CT value (extended-range CT tops out near 65,000): a broken rescale


def parse_window(window: str | list | tuple) -> tuple[float, float]:
    """A CT window as (width, level) in HU, from a preset name or a [width, level] pair."""
    if isinstance(window, str):
        if window in WINDOWS:
            return WINDOWS[window]
        raise ConfigError(f"window={window!r} is not a preset; valid: {', '.join(WINDOWS)} or [width, level] in HU")
    try:
        width, level = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ConfigError(f"window={window!r} must be a preset name or [width, level] in HU") from None
    if width <= 0:
        raise ConfigError(f"window width {width} must be positive")
    return width, level


def display_orient(arr: np.ndarray, iop: Any) -> np.ndarray:
    """Turn a DICOM axial slice to radiological display using ImageOrientationPatient.

    DICOM patient axes are LPS (+x patient Left, +y Posterior). Display wants columns
    running towards +x and rows towards +y; IOP's first triplet is the direction of
    increasing column index, the second of increasing row index. Slices stored with
    flipped (e.g. ``[1, 0, 0, 0, -1, 0]``) or swapped axes are flipped/transposed back.
    """
    if iop is None or len(iop) != 6:
        return arr
    r, c = np.asarray([float(v) for v in iop[:3]]), np.asarray([float(v) for v in iop[3:]])
    if abs(r[1]) > abs(r[0]) and abs(c[0]) > abs(c[1]):  # rows run along x: transpose
        arr, r, c = arr.T, c, r
    if r[0] < 0:
        arr = arr[:, ::-1]
    if c[1] < 0:
        arr = arr[::-1, :]
    return np.ascontiguousarray(arr)


def apply_window(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map HU to [0, 1]: level - width/2 -> 0, level + width/2 -> 1, clipped."""
    lo = level - width / 2.0
    return np.clip((hu.astype(np.float32) - lo) / width, 0.0, 1.0).astype(np.float32)


class _CTBase(Source):
    default_size = None  # keep the scanner's matrix (512) unless a size is asked for
    class_names = ("CT",)

    def __init__(self, path: Path, *, window: Any = "soft_tissue", stride: int = 1):
        super().__init__(path)
        self.window = window if isinstance(window, str) else [float(v) for v in window]
        self.width, self.level = parse_window(window)
        if not isinstance(stride, int) or stride < 1:
            raise ConfigError(f"stride={stride!r} must be a positive integer")
        self.stride = stride

    def _finish(self, slices: list[tuple[np.ndarray, Record, dict]], pre: Preprocess, ctx: ReadContext) -> ImageSet:
        images, recs, extras = [], [], []
        for hu, rec, extra in slices:
            img = pre(apply_window(hu, self.width, self.level))
            images.append(img)
            recs.append(rec)
            extras.append(extra)
        return build_imageset(
            images, recs, extras, class_names=self.class_names, task="multiclass", size_hint=pre.size
        )


class DicomSeriesSource(_CTBase):
    """One patient's CT DICOM series as axial slices, HU windowed."""

    name = "ct_dicom"
    description = (
        "CT DICOM series folder (one patient; TCIA Pancreas-CT style) -> axial slices, HU windowed (default W400/L40)"
    )
    default_path = "ct/dicom_series/pancreas_ct_12slices"
    path_kind = "dir"

    def __init__(self, path: Path, *, window: Any = "soft_tissue", stride: int = 1, series_uid: str | None = None):
        super().__init__(path, window=window, stride=stride)
        self.series_uid = series_uid

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(
            p
            for p in self.path.iterdir()
            if p.is_file()
            and (p.suffix.lower() == ".dcm" or p.suffix == "")
            and not p.name.startswith(".")
            and p.name != "SHA256SUMS"
        )

    def _headers(self, ctx: ReadContext):
        import pydicom
        from pydicom.errors import InvalidDicomError

        out = []
        for f in self.files():
            try:
                ds = pydicom.dcmread(f, stop_before_pixels=False)
            except InvalidDicomError:
                if f.suffix.lower() == ".dcm":  # named as a slice but is none: a bad file, counted and printed
                    ctx.bad(BadFileError(f, "not a DICOM file (no DICM preamble)"))
                else:
                    ctx.notes.append(f"{f.name}: not a DICOM file, ignored")
                continue
            except Exception as exc:  # pydicom raises many types on garbled files
                ctx.bad(
                    BadFileError(f, f"unreadable DICOM ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")
                )
                continue
            if not getattr(ds, "SeriesInstanceUID", None):
                # a garbled file pydicom still parses must not become a second, nameless series
                ctx.bad(BadFileError(f, "DICOM file without a SeriesInstanceUID: not a slice of a series"))
                continue
            out.append((f, ds))
        if not out:
            raise DataError(f"{self.path}: no readable DICOM files (*.dcm) in this folder")
        return out

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        headers = self._headers(ctx)
        series: dict[str, list] = {}
        for f, ds in headers:
            series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append((f, ds))
        if self.series_uid is not None:
            if self.series_uid not in series:
                raise ConfigError(f"series_uid={self.series_uid!r} not in {self.path}; found: {', '.join(series)}")
            chosen = series[self.series_uid]
        elif len(series) > 1:
            raise DataError(
                f"{self.path}: {len(series)} DICOM series in one folder; pick one with -o "
                f"series_uid=UID (found: {', '.join(series)})"
            )
        else:
            chosen = next(iter(series.values()))
        modality = str(getattr(chosen[0][1], "Modality", "") or "")
        if modality != "CT":
            synthetic = str(getattr(chosen[0][1], "SyntheticData", "")) == "YES" or str(
                getattr(chosen[0][1], "ConversionType", "")
            ) in ("SYN", "WSD", "DV")
            kind = "a synthetic or secondary-capture image" if synthetic else f"Modality {modality or 'missing'}"
            raise DataError(
                f"{chosen[0][0]}: {kind}, not CT: its pixel values are not Hounsfield units, so ct_dicom cannot "
                "window them; export the images as PNG and read them with image_folder"
            )

        def z_of(item):
            ds = item[1]
            ipp = getattr(ds, "ImagePositionPatient", None)
            if ipp is not None and len(ipp) == 3:
                return float(ipp[2])
            return float(getattr(ds, "InstanceNumber", 0) or 0)

        if any(getattr(ds, "ImagePositionPatient", None) is None for _, ds in chosen):
            ctx.notes.append("some slices lack ImagePositionPatient; those are ordered by InstanceNumber")
        chosen = sorted(chosen, key=z_of)[:: self.stride]
        slices = []
        for f, ds in progress(chosen, total=len(chosen), desc="ct_dicom", enabled=ctx.progress):
            try:
                if "PixelData" not in ds:
                    raise BadFileError(f, "DICOM file has no pixel data (PixelData element missing)")
                try:
                    arr = ds.pixel_array
                except Exception as exc:
                    raise BadFileError(
                        f, f"cannot decode pixel data ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
                    ) from None
                if arr.ndim != 2:
                    raise BadFileError(f, f"pixel data has shape {arr.shape}; expected one 2-D slice per file")
                slope = float(getattr(ds, "RescaleSlope", 1) or 1)
                intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
                with np.errstate(over="ignore", invalid="ignore"):
                    scaled = arr.astype(np.float64) * slope + intercept
                if not (np.isfinite(slope) and np.isfinite(intercept) and np.isfinite(scaled).all()):
                    raise BadFileError(
                        f, f"RescaleSlope {slope!r} / RescaleIntercept {intercept!r} give non-finite values"
                    )
                if np.abs(scaled).max(initial=0) > HU_LIMIT:
                    raise BadFileError(
                        f,
                        f"RescaleSlope {slope!r} / RescaleIntercept {intercept!r} give values beyond "
                        f"+-{HU_LIMIT:g}: not Hounsfield units",
                    )
                hu = display_orient(scaled.astype(np.float32), getattr(ds, "ImageOrientationPatient", None))
                if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
                    hu = hu.max() + hu.min() - hu  # inverted greyscale: make high values bright
            except BadFileError as err:
                ctx.bad(err)
                continue
            extra = {
                "slice_z": z_of((f, ds)),
                "instance": int(getattr(ds, "InstanceNumber", 0) or 0),
                "hu_min": float(hu.min()),
                "hu_max": float(hu.max()),
            }
            slices.append((hu, Record(f.name, 0, str(getattr(ds, "PatientID", ""))), extra))
        if not slices:
            raise DataError(f"{self.path}: no DICOM slice with readable pixel data")
        shapes = {s[0].shape for s in slices}
        if len(shapes) > 1 and pre.size is None:
            raise ConfigError(f"{self.path}: slices have different sizes {sorted(shapes)}; set --size N")
        return {"train": self._finish(slices, pre, ctx)}

    def describe(self) -> dict[str, Any]:
        return {"format": "DICOM series", "window_hu": [self.width, self.level], "stride": self.stride}


class NiftiSource(_CTBase):
    """CT NIfTI volumes (a file or a folder of them) as axial slices, HU windowed."""

    name = "ct_nifti"
    description = (
        "CT NIfTI volume(s) (.nii/.nii.gz, a file or a folder of them) -> axial slices, HU windowed (default W400/L40)"
    )
    default_path = "ct/chest_ct.nii.gz"
    path_kind = "any"

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.iterdir() if p.name.endswith((".nii", ".nii.gz")))

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        import nibabel as nib

        vols = self.files()
        if not vols:
            raise DataError(f"{self.path}: no .nii or .nii.gz files")
        slices = []
        for f in vols:
            try:
                img = nib.as_closest_canonical(nib.load(str(f)))
                data = np.asarray(img.dataobj, dtype=np.float32)  # applies scl_slope/scl_inter
            except Exception as exc:  # nibabel raises several types on garbled files
                ctx.bad(
                    BadFileError(f, f"unreadable NIfTI ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")
                )
                continue
            if data.ndim == 4 and data.shape[3] == 1:
                data = data[..., 0]
            if data.ndim != 3:
                ctx.bad(BadFileError(f, f"volume has shape {data.shape}; expected 3-D"))
                continue
            z0 = float(img.affine[2, 3])
            dz = float(img.affine[2, 2])
            patient = f.name.removesuffix(".gz").removesuffix(".nii")
            for k in range(0, data.shape[2], self.stride):
                # RAS+: data[x, y] with +x towards patient Right, +y Anterior. Radiological display wants
                # rows anterior -> posterior and columns patient right -> left: transpose, then flip both.
                sl = data[:, :, k].T[::-1, ::-1]  # (X, Y) -> (Y, X), anterior at the top, patient right on the left
                slices.append(
                    (
                        np.ascontiguousarray(sl),
                        Record(f"{f.name}#z{k}", 0, patient),
                        {"slice_z": z0 + dz * k, "slice_index": k},
                    )
                )
        if not slices:
            raise DataError(f"{self.path}: no readable NIfTI volume")
        return {"train": self._finish(slices, pre, ctx)}

    def describe(self) -> dict[str, Any]:
        return {"format": "NIfTI", "window_hu": [self.width, self.level], "stride": self.stride}
