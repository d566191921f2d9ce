"""The application: your own tables on the command line, their preprocessing, ONNX export, plots.

Reading CSV/NPY/NPZ/Parquet files (``tables.py``), the preprocessing a model carries
(``preprocessing.py``), what ``train``/``predict``/``evaluate`` do (``workflows.py``), ONNX
export (``export.py``), training curves (``plotting.py``) and the ``xpmlp`` command (``cli.py``).

May import: backends, nn, optim, io, training, distributed, diagnostics, history, _version.
"""
