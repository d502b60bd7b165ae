"""Patient ids parsed from file names, so that splits never put one patient on both sides.

Kaggle "Chest X-Ray Images (Pneumonia)" (Kermany et al. 2018) names:
``person1003_virus_1685.jpeg`` -> ``person1003``; ``IM-0117-0001.jpeg`` -> ``IM-0117``;
``NORMAL2-IM-0927-0001.jpeg`` -> ``NORMAL2-IM-0927``.
"""

from __future__ import annotations

import re
from pathlib import PurePath

_KAGGLE_PATTERNS = (
    re.compile(r"^(person\d+)_"),
    re.compile(r"^((?:NORMAL2-)?IM-\d+)-\d+"),
)
_SUBTYPE = re.compile(r"_(bacteria|virus)_", re.IGNORECASE)


def kaggle_patient_id(name: str) -> str:
    """Patient id of a Kaggle chest X-ray file name or path; '' when the name has none."""
    stem = PurePath(name).name
    for pattern in _KAGGLE_PATTERNS:
        m = pattern.match(stem)
        if m:
            return m.group(1)
    return ""


def kaggle_subtype(name: str) -> str:
    """'bacteria' or 'virus' for PNEUMONIA files that say so, else ''."""
    m = _SUBTYPE.search(PurePath(name).name)
    return m.group(1).lower() if m else ""
