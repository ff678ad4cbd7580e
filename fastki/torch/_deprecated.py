"""torch.nn.init's old names without the trailing underscore (uniform, normal, constant,
...): the same fills of fastki/torch/_fills.py and _constant_fills.py, with the
FutureWarning torch.nn.init gives."""
from __future__ import annotations

import warnings
from typing import Any

import torch

from ._constant_fills import constant_, dirac_, eye_
from ._fills import (kaiming_normal_, kaiming_uniform_, normal_, orthogonal_, sparse_, uniform_,
                     xavier_normal_, xavier_uniform_)


def _deprecated(fill):
    """torch.nn.init's old names without the trailing underscore: the same fill, with a
    FutureWarning, as torch.nn.init gives."""
    new_name = fill.__name__
    old_name = new_name[:-1]

    def alias(*args: Any, **kwargs: Any) -> torch.Tensor:
        warnings.warn(f"`fastki.torch.{old_name}` is deprecated in favor of "
                      f"`fastki.torch.{new_name}`, as `torch.nn.init.{old_name}` is.",
                      FutureWarning, stacklevel=2)
        return fill(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = (f"Deprecated: {new_name} with a FutureWarning, as torch.nn.init.{old_name}."
                     f"\n\n    Parameters\n    ----------\n    *args, **kwargs\n        Those of "
                     f"{new_name}.\n\n    Returns\n    -------\n    torch.Tensor\n        "
                     f"The tensor filled.\n")
    return alias


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
