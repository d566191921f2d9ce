"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by xpmlp on any backend (``pip install 'xpmlp[sklearn]'``).

The estimators (``mlp.py``) on their shared training (``_base.py``), with scikit-learn's
parameters and first weights (``_params.py``), its verbose lines and warnings
(``_report.py``), pickling and model files (``_persist.py``), scikit-learn's Array API
dispatch (``_dispatch.py``: where the fitted arrays live and the network trains), ``fit`` on
data read as it trains (``_streamed.py``: paths, Dask collections, batches), and the
private names scikit-learn's own tests read (``_compat.py``); whole pipelines holding them saved
without pickle, with skops (``pipelines.py``).

May import: backends, nn, optim, io, training, distributed, history.
"""

from .mlp import MLPClassifier, MLPRegressor, load_estimator
from .pipelines import load_pipeline, save_pipeline, trusted_types

__all__ = ["MLPClassifier", "MLPRegressor", "load_estimator", "load_pipeline", "save_pipeline", "trusted_types"]
