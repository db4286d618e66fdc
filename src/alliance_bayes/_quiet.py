"""Third-party noise that a user of this package cannot act on, avoided where it arises.

Imported first by the package's ``__init__``, which runs :func:`settle_third_party`;
``tests/test_quiet.py`` checks that README's main command and the notebooks print nothing else.
Each entry says where the noise came from:

- PyTensor's ``UserWarning: PyTensor could not link to a BLAS installation`` (with pip's
  PyTensor, at the first compile of a graph with a dot product in PyTensor's C backend, e.g. the
  simulator's draw): the BLAS flags are looked up now, once, with that one warning filtered. The
  sampler's code is numba (nutpie), whose speed does not depend on them, and the C backend
  falls back to NumPy's dot product. A ``blas__ldflags`` set by the user (``PYTENSOR_FLAGS``,
  ``.pytensorrc``) is read as before and never warned about. Costs ~0.4 s at import.
- ArviZ's daily ``FutureWarning`` "ArviZ is undergoing a major refactor" (at ``import arviz``
  when not all of arviz-base, arviz-stats and arviz-plots are installed): arviz is imported
  first here with that one message filtered. Code that imported arviz before this package has
  seen it already.
- PyMC's ``Sampling: [...]`` log line of every prior or posterior predictive draw:
  :func:`pymc_sampling_quiet` around our calls (the lines name PyMC's internal variables).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

BLAS_MESSAGE = "PyTensor could not link to a BLAS installation"
ARVIZ_MESSAGE = r"\s*ArviZ is undergoing a major refactor"
PYMC_FORWARD_LOGGER = "pymc.sampling.forward"


def settle_third_party() -> None:
    """Look up PyTensor's BLAS flags and import ArviZ, without their unactionable warnings.

    Examples
    --------
    >>> settle_third_party()  # idempotent: the flags are looked up once per process
    >>> import pytensor
    >>> isinstance(pytensor.config.blas__ldflags, str)
    True
    """
    import pytensor

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=BLAS_MESSAGE, category=UserWarning)
        _ = pytensor.config.blas__ldflags  # evaluated once, then kept by PyTensor's config
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=ARVIZ_MESSAGE, category=FutureWarning)
        import arviz  # noqa: F401


@contextmanager
def pymc_sampling_quiet() -> Iterator[None]:
    """Hold back PyMC's ``Sampling: [...]`` info line while the block runs (warnings pass).

    Examples
    --------
    >>> import logging
    >>> with pymc_sampling_quiet():
    ...     logging.getLogger("pymc.sampling.forward").isEnabledFor(logging.INFO)
    False
    """
    logger = logging.getLogger(PYMC_FORWARD_LOGGER)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


settle_third_party()
