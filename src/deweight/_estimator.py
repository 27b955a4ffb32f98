"""The scikit-learn estimator convention, without depending on scikit-learn.

``get_params`` reads the names of ``__init__``'s parameters and returns the attributes of the
same names, so an estimator's settings can be copied (``type(e)(**e.get_params())``),
compared and searched over as scikit-learn does; ``set_params`` sets them, refusing a name that
is not one. Unfitted use raises :class:`deweight.errors.NotFittedError` (``_require_fitted``).
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["EstimatorParams"]


class EstimatorParams:
    """Mixin: ``get_params``/``set_params`` from the parameters of ``__init__``."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self"
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's settings, by the names of its ``__init__`` parameters."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> EstimatorParams:
        """Set settings by name (as :meth:`get_params` names them); returns ``self``.

        Raises
        ------
        ValueError
            A name that is not a parameter of this estimator (the message lists them).
        """
        valid = self._param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no parameter(s) {unknown}; its parameters are {valid}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self
