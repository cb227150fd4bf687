"""Where the server's templates and static files are, installed from a wheel or from a checkout.

``overlays/`` and ``static/`` stay at the top of the repository (the project's fixed layout)
and travel in the wheel as the data packages ``server.overlays`` and ``server.static``
(``pyproject.toml`` maps them). Both an installed wheel and an editable checkout resolve them
through the import system, so there is one way to find them and no path arithmetic on
``__file__`` that only holds in a checkout.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from server.errors import ConfigError


def package_dir(package: str) -> Path:
    """The directory of a data package, or ConfigError saying how to install shotfeed."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(
            f"{package} is missing: install shotfeed (pip install . or pip install -e .) "
            "rather than running it from an uninstalled checkout"
        )
    return Path(locations[0])


TEMPLATES_DIR = package_dir("server.overlays")
STATIC_DIR = package_dir("server.static")
