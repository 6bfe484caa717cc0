"""Lists the `websd.*` packages: pyproject's package-dir maps them onto compiler/ and site/."""

from setuptools import find_packages, setup


def _packages(root: str, prefix: str) -> list[str]:
    return [prefix] + [f"{prefix}.{name}" for name in find_packages(root)]


setup(packages=_packages("compiler", "websd") + _packages("site", "websd.site"))
