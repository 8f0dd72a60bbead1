"""The application code: forecasting core, trainer, serving API, demo, local stack."""

import os

# The models here multiply tiny matrices: BLAS threads only add contention (10x slower on a
# busy 2-core machine, measured). Set before numpy is first imported; users can override.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
