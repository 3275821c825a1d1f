#!/usr/bin/env python3
"""PyTorch's own launcher (`python -m torch.distributed.run`, i.e. torchrun), unchanged, except for
one fix it needs on torch ≤ 1.13 under Python ≥ 3.11 (Debian's python3-torch): there its
Std.from_str finds no flag for "0" or "3" (Python 3.11 stopped listing the zero flag NONE and the
combined flag ALL when iterating an IntFlag), so every launch fails with "'NoneType' object has no
attribute 'get'". With a torch that parses them, nothing is patched.

    python torchrun.py [torchrun's arguments] charrnn_torch.py RUN_DIR
"""
import re

from torch.distributed.elastic.multiprocessing import api


def _from_str(vm):
    if re.match(api._VALUE_REGEX, vm):
        return api.Std(int(vm))
    if re.match(api._MAPPING_REGEX, vm):
        return {int(i): api.Std(int(v)) for i, v in (m.split(':') for m in vm.split(','))}
    raise ValueError('%s does not match: <%s> or <%s>' % (vm, api._VALUE_REGEX, api._MAPPING_REGEX))


if api.Std.from_str('0') is None:
    api.Std.from_str = staticmethod(_from_str)

if __name__ == '__main__':
    from torch.distributed.run import main
    main()
