"""Checks of FITS header values and frame geometry for :func:`solarprep.load`.

sunpy and astropy accept many headers that cannot describe a real observation (a string in
CDELT1, CDELT1 = 0, RSUN_REF < 0, a NaN in CRPIX1) and then fail deep inside (TypeError,
SingularMatrixError) without naming the file, or silently give wrong coordinates. These
checks run on every frame and turn each such header into a :class:`SolarDataError` that
names the file, the keyword, its value and what it should be.
"""
import math
import numbers
import warnings

from solarprep.errors import SolarDataError

#: Keywords that must be finite real numbers when present (lower case, as in Map.meta).
NUMERIC_KEYS = ("crpix1", "crpix2", "cdelt1", "cdelt2", "crval1", "crval2", "crota", "crota1",
                "crota2", "pc1_1", "pc1_2", "pc2_1", "pc2_2", "cd1_1", "cd1_2", "cd2_1",
                "cd2_2", "lonpole", "latpole", "dsun_obs", "rsun_ref", "rsun_obs", "hgln_obs",
                "hglt_obs", "crln_obs", "crlt_obs", "haex_obs", "haey_obs", "haez_obs",
                "heex_obs", "heey_obs", "heez_obs", "hcix_obs", "hciy_obs", "hciz_obs",
                "exptime")

#: ``key: (test, what it must be)`` for the physically meaningful ranges.
_RANGES = {
    "cdelt1": (lambda v: v != 0, "non-zero (the plate scale per pixel)"),
    "cdelt2": (lambda v: v != 0, "non-zero (the plate scale per pixel)"),
    "rsun_ref": (lambda v: v > 0, "positive (the solar radius, m)"),
    "rsun_obs": (lambda v: 0 < v < 648000, "positive (the apparent solar radius, arcsec)"),
    "dsun_obs": (lambda v: v > 0, "positive (the observer's distance from Sun centre, m)"),
    "hglt_obs": (lambda v: -90 <= v <= 90, "a latitude in [-90, 90] deg"),
    "crlt_obs": (lambda v: -90 <= v <= 90, "a latitude in [-90, 90] deg"),
    "exptime": (lambda v: v >= 0, "zero or positive (the exposure time, s)"),
}

#: Largest plate scale accepted, arcsec per pixel (1 deg; wide-field imagers are ~250").
MAX_CDELT_ARCSEC = 3600.0

#: Keywords some sunpy instrument classes need; their absence makes Map creation fail.
_SOURCE_KEYS = ("wavelnth", "waveunit", "instrume", "telescop", "detector")

#: What astropy says of a FITS file shorter than its headers announce.
TRUNCATED = "may have been truncated"

#: Header keywords that give Map.date, in sunpy's order.
DATE_KEYS = ("date-obs", "date_obs", "date-beg", "date-avg", "date-end")


def check_header_values(label, meta):
    """Raise a SolarDataError for a coordinate keyword that is not a usable number.

    Parameters
    ----------
    label : str
        The file (or Map) named in the message.
    meta : mapping
        The header (``Map.meta`` or an astropy Header); keys are looked up in lower and
        upper case.
    """
    for key in NUMERIC_KEYS:
        value = _get(meta, key)
        if value is None:
            continue
        name = key.upper()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SolarDataError(
                f"{label}: the header's {name}={value!r} is not a number (a "
                f"{type(value).__name__}); fix {name} in the header (for a Map: "
                f"smap.meta[{name!r}] = ...)")
        if not math.isfinite(float(value)):
            raise SolarDataError(
                f"{label}: the header's {name}={value!r} is not a finite number; fix {name} "
                "in the header or load the instrument's level-1 file")
        test = _RANGES.get(key)
        if test is not None and not test[0](float(value)):
            raise SolarDataError(
                f"{label}: the header's {name}={value!r} is impossible: it must be {test[1]}; "
                f"fix {name} in the header")


def check_geometry(label, geom):
    """Raise a SolarDataError for a frame geometry no observation can have."""
    for field in ("crpix1", "crpix2", "crval1", "crval2", "cdelt1", "cdelt2", "crota2",
                  "dsun_obs", "hgln_obs", "hglt_obs", "rsun_ref", "lonpole"):
        value = getattr(geom, field)
        if not math.isfinite(value):
            raise SolarDataError(f"{label}: the image's {field.upper()} resolves to {value}; the "
                                 "header's WCS or observer keywords are not usable")
    for field in ("cdelt1", "cdelt2"):
        value = getattr(geom, field)
        if not 0 < abs(value) <= MAX_CDELT_ARCSEC:
            raise SolarDataError(
                f"{label}: the plate scale {field.upper()} = {value} arcsec/pixel is impossible "
                f"(it must be non-zero and at most {MAX_CDELT_ARCSEC:g}); check CDELT and CUNIT")
    if not geom.rsun_ref > 0:
        raise SolarDataError(f"{label}: the solar radius RSUN_REF = {geom.rsun_ref} m is not "
                             "positive; fix RSUN_REF (or RSUN_OBS and DSUN_OBS) in the header")
    if not geom.dsun_obs > geom.rsun_ref:
        raise SolarDataError(
            f"{label}: the observer is {geom.dsun_obs} m from Sun centre, inside the Sun "
            f"(RSUN_REF = {geom.rsun_ref} m); fix DSUN_OBS (or RSUN_REF) in the header")


def date_problem(label, meta):
    """A SolarDataError for a header whose date keywords are all absent or unparseable."""
    present = {key.upper(): _get(meta, key) for key in DATE_KEYS if _get(meta, key) is not None}
    if present:
        shown = ", ".join(f"{k}={v!r}" for k, v in present.items())
        return SolarDataError(
            f"{label}: the observation time cannot be parsed from the header ({shown}); write "
            "DATE-OBS as ISO 8601, e.g. '2011-02-15T00:00:00.34'")
    return SolarDataError(
        f"{label}: the header has no DATE-OBS (nor DATE_OBS, DATE-BEG, DATE-AVG or DATE-END), "
        "so the observation time is unknown; add DATE-OBS to the header (for a Map: "
        "smap.meta['DATE-OBS'] = '2011-02-15T00:00:00.34')")


def check_date_obs(label, meta):
    """A DATE-OBS that is present must parse, even when sunpy takes the time from elsewhere."""
    from sunpy.time import parse_time

    value = _get(meta, "date-obs")
    if value is None:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parse_time(value)
    except (ValueError, TypeError) as exc:
        raise SolarDataError(
            f"{label}: the header's DATE-OBS={value!r} cannot be parsed as a time ({exc}); fix "
            "it (ISO 8601, e.g. '2011-02-15T00:00:00.34')") from None


def unreadable(path, exc):
    """The SolarDataError for a file sunpy could not make a Map of: says why when it can tell.

    The header is read again with astropy: if that fails too, the file is damaged; if it
    works, the header values are checked and a missing instrument keyword is named.
    """
    reason = " ".join(line.strip() for line in str(exc).splitlines()
                      if line.strip() and "allow_errors" not in line)
    header, notes = image_header(path)
    truncated = [n for n in notes if TRUNCATED in n]
    if truncated:
        return truncated_error(path, truncated[0])
    if header is None:
        return SolarDataError(
            f"{path}: cannot be read as a FITS image ({type(exc).__name__}: {reason}); the file "
            "may be truncated, corrupt or not FITS: check its size and checksum, or download it "
            "again")
    check_header_values(path, header)
    missing = [key.upper() for key in _SOURCE_KEYS if _get(header, key) is None]
    if missing and isinstance(exc, (AttributeError, TypeError, KeyError)):
        return SolarDataError(
            f"{path}: sunpy cannot build a Map of this {header.get('INSTRUME', 'image')!r} "
            f"image because the header lacks {', '.join(missing)} ({type(exc).__name__}: "
            f"{reason}); add the keyword(s) to the header (WAVELNTH: the wavelength in the "
            "unit of WAVEUNIT, e.g. 171 and 'angstrom')")
    return SolarDataError(
        f"{path}: the file is valid FITS but sunpy cannot build a Map from its header "
        f"({type(exc).__name__}: {reason}); a keyword has a value sunpy cannot use: check "
        "the header (astropy.io.fits.getheader) against the instrument's conventions")


def truncated_error(path, note):
    """The SolarDataError for a FITS file shorter than its headers say."""
    return SolarDataError(f"{path}: the FITS file is truncated ({note}); download it again")


def verify_checksums(path):
    """Check CHECKSUM/DATASUM of every HDU that has them; raise a SolarDataError on mismatch."""
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, checksum=True) as hdul:
            for hdu in hdul:
                _ = hdu.data
    failed = [str(w.message) for w in caught if "verification failed" in str(w.message).lower()]
    if failed:
        raise SolarDataError(f"{path}: the file's CHECKSUM/DATASUM do not match its content "
                             f"({failed[0]}); the file is corrupt: download it again")


def has_checksum(meta):
    """Whether a header carries CHECKSUM or DATASUM."""
    return _get(meta, "checksum") is not None or _get(meta, "datasum") is not None


def _get(meta, key):
    value = meta.get(key)
    if value is None:
        value = meta.get(key.upper())
    return value


def image_header(path):
    """``(header, warnings)``: the first image HDU's header (astropy; None if the file cannot
    be read) and the messages of the warnings astropy gave while reading it."""
    from astropy.io import fits

    header = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path) as hdul:
                images = [h for h in hdul if h.is_image and int(h.header.get("NAXIS", 0)) >= 2]
                header = (images or [hdul[0]])[0].header.copy()
        except Exception:  # noqa: BLE001 - any failure means: not readable as FITS
            header = None
    return header, [str(w.message) for w in caught]
