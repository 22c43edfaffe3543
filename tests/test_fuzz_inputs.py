"""Fuzz the readers with damaged variants of the real sample files (issue 13).

At least 150 variants of the real FITS images, GOES/XRS files and SOLARED ``.npz`` timelines
(truncations, byte flips in headers and data, removed and edited keys, wrong types, NaN/inf
values, shape and time mismatches) go through ``solarprep.load``, ``goes.read_xrs`` and
``solared.read_timelines``. Each must end in one of two ways:

* **clear error**: a :class:`solarprep.errors.SolarprepError` whose message names the file;
* **documented acceptance** (``docs/guarantees.md``): the result is what the file says,
  checked against an independent reading (astropy, h5py) or the known edit, and physically
  valid (finite geometry, increasing times, plausible fluxes).

Anything else fails: a bare library exception, a hang (each case has a 20 s alarm), or an
accepted result that differs from what the file says (a silent wrong value). Run
``python tests/test_fuzz_inputs.py`` to print the counts.
"""
import collections
import contextlib
import dataclasses
import io
import math
import pathlib
import shutil
import signal
import sys
import warnings
import zipfile
import zlib

import numpy as np
import pytest

from solarprep.errors import SolarprepError

REAL = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
FITS_FILES = {"aia": "sdo/aia171_20110215T0000_lev1_128px.fits",
              "hmi": "sdo/hmi_ic_20140301T0000_fulldisk_100px.fits",
              "euvi": "stereo/euvi171_A_20110215T0014_128px.fits"}
GOES_FILES = {"sdac": "goes/go1520110607.fits", "sdacgz": "goes/go1520120601.fits.gz",
              "reproc": "goes/sci_gxrs-l2-irrad_g15_d20170910_v0-0-0_truncated.nc",
              "goesr": "goes/sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc"}
AR = "11158"
TIMEOUT_S = 20
TALLY = collections.Counter()

pytestmark = [
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real sample data not at {REAL}"),
    # sunpy leaves a damaged FITS file open when it fails, and h5netcdf's File.__del__ fails
    # on a file it could not open: library noise on purpose-made bad files, not our errors
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@dataclasses.dataclass
class Case:
    """One damaged input: how to make it, which reader, and what must happen."""

    name: str
    reader: str                 # "fits", "stack", "goes", "solared"
    make: object                # make(folder) -> the path (or list of paths) to read
    expect: str                 # "error", "accept" or "either"
    check: object = None        # check(result, path) asserts the accepted result is right
    match: str = ""             # substring the error message must contain


class _Hang(BaseException):
    pass


@contextlib.contextmanager
def _deadline(seconds):
    def alarm(signum, frame):
        raise _Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _read(reader, path):
    from solarprep import load
    from solarprep.datasets.solared import read_timelines
    from solarprep.lightcurves.goes import read_xrs

    if reader in ("fits", "stack"):
        return load(path, progress=False, north_up=False, device="cpu")
    if reader == "goes":
        return read_xrs(path)
    return read_timelines(path)


def run_case(case, folder):
    """Make and read one variant; returns "clear error" or "documented acceptance"."""
    path = case.make(folder)
    paths = path if isinstance(path, list) else [path]
    try:
        with _deadline(TIMEOUT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = _read(case.reader, path)
    except SolarprepError as exc:
        text = str(exc)
        assert any(str(p) in text or pathlib.Path(p).name in text for p in paths), \
            f"{case.name}: the error does not name the file: {text}"
        assert case.expect in ("error", "either"), f"{case.name}: refused a good input: {text}"
        assert case.match in text, f"{case.name}: expected {case.match!r} in: {text}"
        return "clear error"
    except _Hang:
        pytest.fail(f"{case.name}: hang (no answer within {TIMEOUT_S} s)")
    except Exception as exc:  # noqa: BLE001 - this is what the suite looks for
        pytest.fail(f"{case.name}: bare {type(exc).__name__}: {exc}")
    assert case.expect in ("accept", "either"), f"{case.name}: accepted a broken input"
    (case.check or _VALID[case.reader])(result, path)
    return "documented acceptance"


# --------------------------------------------------------------------------- byte helpers

def _bytes(rel):
    return (REAL / rel).read_bytes()


def _header_end(data):
    """Offset after the primary header (the END card, padded to 2880)."""
    for i in range(0, len(data), 80):
        if data[i:i + 8] == b"END     ":
            return (i // 2880 + 1) * 2880
    raise ValueError("no END card")


def _flip(data, positions, seed):
    out = bytearray(data)
    rng = np.random.default_rng(seed)
    for pos in positions:
        out[pos] ^= int(rng.integers(1, 256))
    return bytes(out)


def _set_card(data, key, text):
    """Replace (text) or blank (None) the value of header card ``key`` in raw FITS bytes."""
    out = bytearray(data)
    end = _header_end(data)
    for i in range(0, end, 80):
        if out[i:i + 8].decode("ascii", "replace").rstrip() == key:
            card = b" " * 80 if text is None else f"{key:<8}= {text:>20}".ljust(80).encode()
            out[i:i + 80] = card
            return bytes(out)
    raise KeyError(key)


def _writer(name, data):
    def make(folder):
        path = folder / name
        path.write_bytes(data)
        return path
    return make


# --------------------------------------------------------------------------- oracles

def _astropy_image(path):
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            hdu = next(h for h in hdul if h.is_image and h.data is not None)
            return hdu.header.copy(), np.asarray(hdu.data, np.float32)


def _fits_consistent(ds, path):
    """Accepted image = what the (damaged) file says, with a physically valid geometry."""
    header, data = _astropy_image(path)
    data = np.where(np.isinf(data), np.nan, data)
    (variable,) = ds.data_vars
    np.testing.assert_array_equal(ds[variable].values[0], data)
    for key in ("crpix1", "crpix2", "cdelt1", "cdelt2", "crval1", "crval2", "dsun_obs",
                "hgln_obs", "hglt_obs"):
        assert np.isfinite(ds[key].values).all(), key
    for key in ("CRPIX1", "CRPIX2"):
        if key in header:
            assert float(ds[key.lower()].values[0]) == pytest.approx(float(header[key]))
    assert 0 < abs(float(ds.cdelt1[0])) <= 3600 and ds.attrs["rsun_ref"] > 0
    assert float(ds.dsun_obs[0]) > ds.attrs["rsun_ref"]


def _goes_valid(ds, path):
    t = ds.time.values
    assert t.size > 0 and np.all(np.diff(t) > np.timedelta64(0, "ns"))
    assert t[0] >= np.datetime64("1975-01-01") and t[-1] <= np.datetime64("2100-01-01")
    for name in ("xrsa", "xrsb"):
        v = ds[name].values
        assert np.all(np.isnan(v) | ((v >= 0) & (v <= 1e-2))), name


def _masked(n):
    """Check: a valid light curve in which exactly ``n`` impossible values were set to NaN."""
    def check(ds, path):
        _goes_valid(ds, path)
        assert ds.attrs["masked_samples"] == n
    return check


def _timelines_valid(ds, path):
    t = ds.time.values
    assert t.size > 0 and np.all(np.diff(t) > np.timedelta64(0, "ns"))
    for name in ds.data_vars:
        assert not np.isinf(ds[name].values).any(), name
        assert ds[name].shape == (t.size, 81)


_VALID = {"fits": _fits_consistent, "stack": lambda ds, p: None, "goes": _goes_valid,
          "solared": _timelines_valid}


# --------------------------------------------------------------------------- FITS cases

def _fits_cases():
    cases = []
    for tag, rel in FITS_FILES.items():
        raw = _bytes(rel)
        end = _header_end(raw)
        name = pathlib.Path(rel).name
        for cut in (0, 1, 100, 2879, end // 2, end, end + 1000, len(raw) // 2, len(raw) - 2880,
                    len(raw) - 1):
            cases.append(Case(f"{tag}-truncated-{cut}", "fits", _writer(name, raw[:cut]),
                              "error"))
        rng = np.random.default_rng(zlib.crc32(tag.encode()))
        for k in range(12):          # random header bytes: error, or read as the file says
            pos = rng.choice(end, size=int(rng.integers(1, 4)), replace=False)
            cases.append(Case(f"{tag}-header-flip-{k}", "fits",
                              _writer(name, _flip(raw, pos, k)), "either"))
        for k in range(4):           # data bytes: undetectable without a checksum
            pos = rng.integers(end, len(raw), size=3)
            cases.append(Case(f"{tag}-data-flip-{k}", "fits", _writer(name, _flip(raw, pos, k)),
                              "accept"))
        for key in ("CDELT1", "CRPIX2", "CTYPE1", "DATE-OBS"):
            other_date = key == "DATE-OBS" and any(
                f"{k:<8}=".encode() in raw[:end] for k in ("DATE_OBS", "DATE-BEG", "DATE-AVG"))
            cases.append(Case(f"{tag}-no-{key}", "fits", _writer(name, _set_card(raw, key, None)),
                              "accept" if other_date else "error", match=key))
        edits = [("CDELT1", "NAN"), ("CDELT2", "INF"), ("CRPIX1", "-INF"), ("CRVAL1", "1.0E999"),
                 ("CDELT1", "0.0"), ("CDELT2", "1.0E300"), ("CDELT1", "'abc'"),
                 ("CRPIX1", "'64.5'"), ("CROTA2", "T"), ("DSUN_OBS", "0.0"),
                 ("DSUN_OBS", "-1.0E11"), ("RSUN_REF", "-696000000.0"), ("RSUN_REF", "0"),
                 ("EXPTIME", "-1.0"), ("DATE-OBS", "'2011-13-45T99:99:99'"),
                 ("DATE-OBS", "'yesterday'"), ("NAXIS", "3"), ("NAXIS1", "99999")]
        for key, text in edits:
            try:
                data = _set_card(raw, key, text)
            except KeyError:
                continue
            cases.append(Case(f"{tag}-{key}={text}", "fits", _writer(name, data), "error"))
        for key, text in (("CRPIX1", "-300.0"), ("CRVAL2", "120.5"), ("CROTA2", "45.0")):
            if f"{key:<8}=".encode() in raw[:end]:
                cases.append(Case(f"{tag}-{key}={text}", "fits",
                                  _writer(name, _set_card(raw, key, text)), "accept"))
        cases += _fits_pixel_cases(tag, rel, name)
    cases += _fits_optional_key_cases()
    cases += _stack_cases()
    return cases


def _with_data(rel, change):
    from astropy.io import fits

    def make(folder):
        header, data = _astropy_image(REAL / rel)
        data = change(data.astype(np.float64))
        path = folder / pathlib.Path(rel).name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.PrimaryHDU(data, header).writeto(path, output_verify="silentfix")
        return path
    return make


def _fits_pixel_cases(tag, rel, name):
    def some_inf(d):
        d[:3, :3] = np.inf
        d[-1, -1] = -np.inf
        return d

    def some_nan(d):
        d[10:20] = np.nan
        return d

    def no_inf(ds, path):
        (variable,) = ds.data_vars
        assert not np.isinf(ds[variable].values).any()
        _fits_consistent(ds, path)          # the infinite pixels became NaN, the rest as read

    return [
        Case(f"{tag}-all-nan", "fits", _with_data(rel, lambda d: d * np.nan), "error"),
        Case(f"{tag}-all-inf", "fits", _with_data(rel, lambda d: d + np.inf), "error"),
        Case(f"{tag}-some-inf", "fits", _with_data(rel, some_inf), "accept", check=no_inf),
        Case(f"{tag}-some-nan", "fits", _with_data(rel, some_nan), "accept"),
        Case(f"{tag}-cube", "fits", _with_data(rel, lambda d: np.stack([d, d])), "error",
             match="cube"),
        Case(f"{tag}-1d", "fits", _with_data(rel, lambda d: d[0]), "error"),
    ]


def _fits_optional_key_cases():
    """Optional keywords removed: the documented defaults apply."""
    raw = _bytes(FITS_FILES["euvi"])
    name = pathlib.Path(FITS_FILES["euvi"]).name

    def no_exptime(ds, path):
        assert np.isnan(ds.exptime.values).all()
        _fits_consistent(ds, path)

    def no_bunit(ds, path):
        (variable,) = ds.data_vars
        assert ds[variable].attrs["units"] == ""
        _fits_consistent(ds, path)

    cases = [Case("euvi-no-EXPTIME", "fits", _writer(name, _set_card(raw, "EXPTIME", None)),
                  "accept", check=no_exptime),
             Case("euvi-no-BUNIT", "fits", _writer(name, _set_card(raw, "BUNIT", None)),
                  "accept", check=no_bunit)]
    aia = _bytes(FITS_FILES["aia"])
    cases.append(Case("aia-no-WAVELNTH", "fits",
                      _writer("aia.fits", _set_card(aia, "WAVELNTH", None)), "error",
                      match="lacks WAVELNTH"))
    cases.append(Case("aia-checksum-data-flip", "fits", _checksummed_flip, "error",
                      match="CHECKSUM"))
    return cases


def _checksummed_flip(folder):
    from astropy.io import fits

    header, data = _astropy_image(REAL / FITS_FILES["aia"])
    path = folder / "aia_checksum.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.PrimaryHDU(data, header).writeto(path, checksum=True, output_verify="silentfix")
    raw = path.read_bytes()
    path.write_bytes(_flip(raw, [_header_end(raw) + 4000], 1))
    return path


def _stack_cases():
    aia, hmi = REAL / FITS_FILES["aia"], REAL / FITS_FILES["hmi"]

    def copies(*edits):
        def make(folder):
            paths = []
            for k, edit in enumerate(edits):
                path = folder / f"frame{k}.fits"
                path.write_bytes(edit(aia.read_bytes()))
                paths.append(path)
            return paths
        return make

    def same(d):
        return d

    def later(d):
        d = _set_card(d, "DATE-OBS", "'2011-02-15T00:01:00.34'")
        return _set_card(d, "T_OBS", "'2011-02-15T00:01:01.34Z'")

    def mixed(folder):                    # AIA and EUVI 171: both 128 x 128
        a, b = folder / "a.fits", folder / "b.fits"
        shutil.copy(aia, a)
        shutil.copy(REAL / FITS_FILES["euvi"], b)
        return [a, b]

    def mixed_shapes(folder):
        a, b = folder / "a.fits", folder / "b.fits"
        shutil.copy(aia, a)
        shutil.copy(hmi, b)
        return [a, b]

    def resized(folder):
        from astropy.io import fits

        header, data = _astropy_image(aia)
        b = folder / "b.fits"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.PrimaryHDU(data[:64], header).writeto(b, output_verify="silentfix")
        a = folder / "a.fits"
        a.write_bytes(later(aia.read_bytes()))
        return [a, b]

    def two_frames(ds, paths):
        assert ds.sizes["time"] == 2 and np.all(np.diff(ds.time.values) > np.timedelta64(0))

    return [Case("stack-duplicate-time", "stack", copies(same, same), "error",
                 match="same time"),
            Case("stack-two-times", "stack", copies(same, later), "accept", check=two_frames),
            Case("stack-mixed-instruments", "stack", mixed, "error", match="mix"),
            Case("stack-mixed-shapes", "stack", mixed_shapes, "error", match="shape"),
            Case("stack-shape-mismatch", "stack", resized, "error", match="shape")]


# --------------------------------------------------------------------------- GOES cases

def _netcdf_variant(rel, change):
    import xarray as xr

    def make(folder):
        with xr.open_dataset(REAL / rel, engine="h5netcdf") as ds:
            keep = [n for n in ds.data_vars if n.split("_")[0] in ("a", "b", "xrsa", "xrsb")
                    and n.split("_")[1] in ("flux", "flag", "flags")]
            ds = change(ds[keep].load())
        path = folder / pathlib.Path(rel).name
        ds.to_netcdf(path, engine="h5netcdf")
        return path
    return make


def _sdac_variant(change):
    from astropy.io import fits

    def make(folder):
        with warnings.catch_warnings(), fits.open(REAL / GOES_FILES["sdac"]) as hdul:
            warnings.simplefilter("ignore")
            hdul.readall()
            hdul = change(fits.HDUList([h.copy() for h in hdul]))
            path = folder / pathlib.Path(GOES_FILES["sdac"]).name
            hdul.writeto(path, output_verify="silentfix")
        return path
    return make


def _goes_cases():
    cases = []
    for tag, rel in GOES_FILES.items():
        raw = _bytes(rel)
        name = pathlib.Path(rel).name
        for cut in (0, 10, 1000, len(raw) // 3, len(raw) // 2, len(raw) - 1):
            cases.append(Case(f"{tag}-truncated-{cut}", "goes", _writer(name, raw[:cut]), "error"))
        rng = np.random.default_rng(len(raw))
        head = _header_end(raw) if tag == "sdac" else min(len(raw), 4096)
        for k in range(6):
            pos = rng.choice(head, size=int(rng.integers(1, 4)), replace=False)
            cases.append(Case(f"{tag}-header-flip-{k}", "goes", _writer(name, _flip(raw, pos, k)),
                              "either"))
        for k in range(3):
            pos = rng.integers(len(raw) // 2, len(raw), size=4)
            cases.append(Case(f"{tag}-data-flip-{k}", "goes", _writer(name, _flip(raw, pos, k)),
                              "either"))
    cases += _goes_netcdf_cases() + _goes_sdac_cases()
    return cases


def _goes_netcdf_cases():
    reproc, goesr = GOES_FILES["reproc"], GOES_FILES["goesr"]

    def no_time(ds):
        return ds.drop_vars("time")

    def int_time(ds):
        return ds.assign_coords(time=np.arange(ds.sizes["time"]))

    def far_time(ds):
        return ds.assign_coords(time=ds.time.values + np.timedelta64(200 * 365, "D"))

    def shuffled(ds):
        return ds.isel(time=np.random.default_rng(0).permutation(ds.sizes["time"]))

    def repeated(ds):
        return ds.isel(time=np.r_[0, np.arange(ds.sizes["time"])])

    def flux(name, values):
        def change(ds):
            v = ds[name].values.copy()
            v[:5] = values
            ds[name] = (ds[name].dims, v, ds[name].attrs)
            return ds
        return change

    def sorted_check(ds, path):
        _goes_valid(ds, path)
        assert ds.sizes["time"] > 50

    cases = []
    for tag, rel, a, b in (("reproc", reproc, "a_flux", "b_flux"),
                           ("goesr", goesr, "xrsa_flux", "xrsb_flux")):
        cases += [
            Case(f"{tag}-no-time", "goes", _netcdf_variant(rel, no_time), "error",
                 match="time"),
            Case(f"{tag}-undecodable-time", "goes", _netcdf_variant(rel, int_time), "error",
                 match="time"),
            Case(f"{tag}-time-2200", "goes", _netcdf_variant(rel, far_time), "error",
                 match="outside"),
            Case(f"{tag}-no-flux", "goes",
                 _netcdf_variant(rel, lambda d, b=b: d.drop_vars(b)), "error"),
            Case(f"{tag}-string-flux", "goes", _netcdf_variant(
                rel, lambda d, a=a: d.assign({a: (d[a].dims, d[a].values.astype(str))})),
                 "error"),
            Case(f"{tag}-short-flux", "goes", _netcdf_variant(
                rel, lambda d, b=b: d.assign({b: (("n",), d[b].values[:-3])})), "error"),
            Case(f"{tag}-negative-flux", "goes", _netcdf_variant(rel, flux(b, -1e-6)), "accept",
                 check=_masked(5)),
            Case(f"{tag}-inf-flux", "goes", _netcdf_variant(rel, flux(a, np.inf)), "accept",
                 check=_masked(5)),
            Case(f"{tag}-absurd-flux", "goes", _netcdf_variant(rel, flux(b, 5.0)), "accept",
                 check=_masked(5)),
            Case(f"{tag}-nan-flux", "goes", _netcdf_variant(rel, flux(b, np.nan)), "accept",
                 check=_masked(0)),
            Case(f"{tag}-shuffled-times", "goes", _netcdf_variant(rel, shuffled), "accept",
                 check=sorted_check),
            Case(f"{tag}-repeated-time", "goes", _netcdf_variant(rel, repeated), "accept",
                 check=sorted_check),
        ]
    return cases


def _goes_sdac_cases():
    def drop_fluxes(hdul):
        del hdul["FLUXES"]
        return hdul

    def date(text):
        def change(hdul):
            hdul[0].header["DATE-OBS"] = text
            return hdul
        return change

    def column(name, index, value):
        def change(hdul):
            hdul["FLUXES"].data[name][0][index] = value
            return hdul
        return change

    return [
        Case("sdac-no-FLUXES", "goes", _sdac_variant(drop_fluxes), "error", match="FLUXES"),
        Case("sdac-date-garbage", "goes", _sdac_variant(date("garbage")), "error",
             match="DATE-OBS"),
        Case("sdac-date-31-feb", "goes", _sdac_variant(date("31/02/2011")), "error",
             match="DATE-OBS"),
        Case("sdac-date-empty", "goes", _sdac_variant(date("")), "error", match="DATE-OBS"),
        Case("sdac-time-nan", "goes", _sdac_variant(column("TIME", 7, np.nan)), "error",
             match="TIME"),
        Case("sdac-time-1e30", "goes", _sdac_variant(column("TIME", 7, 1e30)), "error",
             match="TIME"),
        Case("sdac-flux-negative", "goes", _sdac_variant(column("FLUX", 3, -5e-6)), "accept",
             check=_masked(2)),
        Case("sdac-flux-absurd", "goes", _sdac_variant(column("FLUX", 3, 1e3)), "accept",
             check=_masked(2)),
    ]


# --------------------------------------------------------------------------- SOLARED cases

def _ar_copy(change):
    def make(folder):
        target = folder / f"AR{AR}"
        shutil.copytree(REAL / "solared" / f"AR{AR}", target)
        change(target)
        return target
    return make


def _npz_members(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _rewrite(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def _npy(array):
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=True)
    return out.getvalue()


def _arrays(path):
    """The arrays of a pristine real file (numpy, trusted copy)."""
    with np.load(REAL / "solared" / f"AR{AR}" / path.name, allow_pickle=True) as z:
        return {k: z[k] for k in z.files}


def _edit(kind, change):
    """Rewrite file ``mean_{kind}...npz`` with ``change(arrays)`` (a dict of arr_k arrays)."""
    def apply(folder):
        path = folder / f"mean_{kind}{AR}_flat.npz"
        arrays = change(_arrays(path))
        _rewrite(path, {f"{k}.npy": _npy(v) for k, v in arrays.items()})
    return apply


def _solared_cases():
    cases = []
    names = {"pmdop": 4, "mag": 1, "int": 1}
    for kind, n in names.items():
        fname = f"mean_{kind}{AR}_flat.npz"
        raw = (REAL / "solared" / f"AR{AR}" / fname).read_bytes()
        for cut in (0, 30, len(raw) // 2, len(raw) - 30):
            cases.append(Case(f"{kind}-truncated-{cut}", "solared",
                              _ar_copy(lambda f, fname=fname, cut=cut, raw=raw:
                                       (f / fname).write_bytes(raw[:cut])), "error"))
        rng = np.random.default_rng(len(raw))
        for k in range(4):
            pos = rng.integers(0, len(raw), size=2)
            cases.append(Case(f"{kind}-byte-flip-{k}", "solared",
                              _ar_copy(lambda f, fname=fname, pos=pos, k=k, raw=raw:
                                       (f / fname).write_bytes(_flip(raw, pos, k))), "either"))
        t = f"arr_{n}"
        cases += [
            Case(f"{kind}-missing-times", "solared",
                 _ar_copy(_edit(kind, lambda a, t=t: {k: v for k, v in a.items() if k != t})),
                 "error"),
            Case(f"{kind}-extra-array", "solared",
                 _ar_copy(_edit(kind, lambda a, n=n: {**a, f"arr_{n + 1}": a["arr_0"]})),
                 "error"),
            Case(f"{kind}-80-tiles", "solared",
                 _ar_copy(_edit(kind, lambda a: {**a, "arr_0": a["arr_0"][:80]})), "error",
                 match="shape"),
            Case(f"{kind}-short-times", "solared",
                 _ar_copy(_edit(kind, lambda a, t=t: {**a, t: a[t][:-1]})), "error"),
            Case(f"{kind}-strings", "solared",
                 _ar_copy(_edit(kind, lambda a: {**a, "arr_0": a["arr_0"].astype(str)})), "error"),
            Case(f"{kind}-inf", "solared",
                 _ar_copy(_edit(kind, lambda a: {**a, "arr_0": _put(a["arr_0"], np.inf)})),
                 "error", match="infinite"),
            Case(f"{kind}-times-as-text", "solared",
                 _ar_copy(_edit(kind, lambda a, t=t: {**a, t: a[t].astype(str)})), "error"),
            Case(f"{kind}-times-as-numbers", "solared",
                 _ar_copy(_edit(kind, lambda a, t=t: {**a, t: np.arange(a[t].size, dtype=float)})),
                 "error"),
        ]
    cases += _solared_time_cases()
    return cases


def _put(a, value):
    a = a.astype(np.float64)
    a[20, 5] = value
    return a


def _solared_time_cases():
    def all_files(change):
        def apply(folder):
            for kind, n in (("pmdop", 4), ("mag", 1), ("int", 1)):
                _edit(kind, lambda a, n=n: {**a, f"arr_{n}": change(a[f"arr_{n}"])})(folder)
        return apply

    def swap(t):
        t = t.copy()
        t[[10, 11]] = t[[11, 10]]
        return t

    def dup(t):
        t = t.copy()
        t[50] = t[49]
        return t

    def shifted(t):
        return t + np.timedelta64(30, "m").astype(object)

    def with_nan(ds, path):
        _timelines_valid(ds, path)
        assert int(np.isnan(ds["flux"].values).sum()) >= 1

    return [
        Case("times-unsorted", "solared", _ar_copy(all_files(swap)), "error", match="before"),
        Case("times-duplicated", "solared", _ar_copy(all_files(dup)), "error",
             match="duplicates"),
        Case("times-differ-between-files", "solared",
             _ar_copy(_edit("mag", lambda a: {**a, "arr_1": shifted(a["arr_1"])})), "error",
             match="differ"),
        Case("times-shifted-consistently", "solared", _ar_copy(all_files(shifted)), "accept"),
        Case("values-nan", "solared",
             _ar_copy(_edit("mag", lambda a: {**a, "arr_0": _put(a["arr_0"], np.nan)})),
             "accept", check=with_nan),
        Case("missing-file", "solared",
             _ar_copy(lambda f: (f / f"mean_int{AR}_flat.npz").unlink()), "error",
             match="mean_int"),
        Case("empty-file", "solared",
             _ar_copy(lambda f: (f / f"mean_mag{AR}_flat.npz").write_bytes(b"")), "error"),
    ]


def all_cases():
    return _fits_cases() + _goes_cases() + _solared_cases()


CASES = all_cases() if REAL.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_damaged_input(case, tmp_path):
    TALLY[run_case(case, tmp_path)] += 1


def test_there_are_enough_variants():
    families = collections.Counter(c.reader for c in CASES)
    assert len(CASES) >= 150, len(CASES)
    assert families["fits"] >= 60 and families["goes"] >= 40 and families["solared"] >= 30


# --------------------------------------------------------------------------- properties

def test_header_values_property():
    """Any value in a coordinate keyword: a clear error naming the key, or a valid geometry."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    import sunpy.map

    from solarprep import load

    header, data = _astropy_image(REAL / FITS_FILES["aia"])
    base = sunpy.map.Map(data, header)
    keys = ("CRPIX1", "CDELT2", "CRVAL1", "CROTA2", "RSUN_REF", "DSUN_OBS", "EXPTIME",
            "RSUN_OBS", "HGLT_OBS")
    values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                       st.text(max_size=5), st.booleans())

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @hypothesis.given(key=st.sampled_from(keys), value=values)
    def check(key, value):
        smap = sunpy.map.Map(base.data, base.meta.copy())
        smap.meta[key.lower()] = value
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = load(smap, progress=False, north_up=False, device="cpu")
        except SolarprepError as exc:
            assert "sunpy Map #0" in str(exc)
            return
        number = float(value)
        assert not isinstance(value, (str, bool)) and math.isfinite(number)
        assert np.isfinite(ds.crpix1.values).all() and ds.attrs["rsun_ref"] > 0
        assert 0 < abs(float(ds.cdelt2[0])) <= 3600
        if key == "CRPIX1":
            assert float(ds.crpix1[0]) == pytest.approx(number)

    check()


def test_pickled_timestamps_property(tmp_path):
    """Random bytes or mutated pickles in the timestamp array: only clear errors, never code."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    from solarprep.errors import SolarDataError
    from solarprep.io.npz import load_npz

    real = _npz_members(REAL / "solared" / f"AR{AR}" / f"mean_mag{AR}_flat.npz")["arr_1.npy"]
    head = real[:real.index(b"\n") + 1]
    body = real[len(head):]

    @hypothesis.settings(max_examples=80, deadline=None, derandomize=True, database=None)
    @hypothesis.given(flips=st.lists(st.tuples(st.integers(0, len(body) - 1),
                                               st.integers(1, 255)), max_size=4),
                      cut=st.integers(1, len(body)), junk=st.binary(max_size=40))
    def check(flips, cut, junk):
        payload = bytearray(body[:cut])
        for pos, xor in flips:
            if pos < len(payload):
                payload[pos] ^= xor
        path = tmp_path / "t.npz"
        _rewrite(path, {"arr_0.npy": head + bytes(payload) + junk})
        try:
            out = load_npz(path)
        except SolarDataError as exc:
            assert str(path) in str(exc)
            return
        values = out["arr_0"]
        assert values.dtype == object and all(type(v).__name__ == "datetime" for v in values)

    check()


if __name__ == "__main__":       # print the counts: python tests/test_fuzz_inputs.py
    import tempfile

    counts = collections.Counter()
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            try:
                counts[run_case(case, pathlib.Path(folder))] += 1
            except BaseException as exc:  # noqa: BLE001
                counts["other"] += 1
                print(case.name, exc, file=sys.stderr)
    print(dict(counts), "of", len(CASES))
