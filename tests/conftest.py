"""Shared fixtures. Real data comes from ../shared/data (or $RADGEN_DATA_DIR); it is never copied.

Where the data kit is absent (a clone without ``../shared``), every test that needs it is skipped
with one line saying so, and the rest run; under ``CI=true`` a missing kit fails the suite instead.
A test needs the kit when it takes the ``data_dir`` fixture, carries ``@pytest.mark.data_kit``, sits
in a module that calls ``require_data_kit()``, or loads a kit dataset (radgen then raises
``MissingDataError`` naming the absent root ``NO_KIT``, which is reported as that skip).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
NO_KIT = Path(tempfile.gettempdir()) / "radgen-tests-no-data-kit"  # never created: where radgen is told to look


def _shared_data() -> Path | None:
    env = os.environ.get("RADGEN_DATA_DIR")
    p = Path(env) if env else REPO.parent / "shared" / "data"
    return p if (p / "MANIFEST.md").is_file() else None


DATA = _shared_data()
MISSING = (
    f"data kit absent (no MANIFEST.md at {os.environ.get('RADGEN_DATA_DIR') or REPO.parent / 'shared' / 'data'}; "
    "set RADGEN_DATA_DIR to the folder holding it)"
)


def _absent() -> None:
    if CI:
        pytest.fail(f"{MISSING}; CI=true: a missing kit fails the suite", pytrace=False)
    pytest.skip(MISSING)


def require_data_kit() -> Path:
    """For modules that read the kit at import: the kit's path, else the whole module is skipped (failed under CI)."""
    if DATA is None:
        if CI:
            pytest.fail(f"{MISSING}; CI=true: a missing kit fails the suite", pytrace=False)
        pytest.skip(MISSING, allow_module_level=True)
    return DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA is None:
        _absent()
    return DATA


def pytest_runtest_setup(item: pytest.Item) -> None:
    if DATA is None and item.get_closest_marker("data_kit") is not None:
        _absent()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Without the kit (and not under CI), a test that failed because radgen found no dataset under
    ``NO_KIT`` is reported as the data-kit skip: it needed the kit; nothing else is turned into a skip."""
    outcome = yield
    report = outcome.get_result()
    if DATA is not None or CI or not report.failed or call.excinfo is None:
        return
    from radgen.errors import MissingDataError

    if call.excinfo.errisinstance(MissingDataError) and str(NO_KIT) in str(call.excinfo.value):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {MISSING}")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Each test session gets its own preprocessed cache, so results never depend on ~/.cache."""
    old = {k: os.environ.get(k) for k in ("RADGEN_CACHE_DIR", "RADGEN_DATA_DIR")}
    os.environ["RADGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("radgen_cache"))
    os.environ["RADGEN_DATA_DIR"] = str(DATA if DATA is not None else NO_KIT)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
