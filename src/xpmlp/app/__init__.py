"""The application: your own tables on the command line, their preprocessing, ONNX export, plots.

Reading data files (``tables.py``; delimited text through pandas in ``delimited.py``; compression,
encodings, gap markers and the reading options a model keeps in ``reading.py``) within their limits
(``limits.py``), the guesses ``train`` makes -- the task, row numbers (``decisions.py``), how each
column is encoded -- numbers, categories, gaps (``features.py``), dates (``dates.py``), the
preprocessing a model carries
(``preprocessing.py``), what ``train``/``predict``/``evaluate`` do (``workflows.py``; ``train --stream`` in
``streamed.py``: a file trained on as it is read, a chunk
of rows at a time by ``chunked.py``) and the tabular
recipe ``train`` follows by default (``recipe.py``), ONNX
export (``export.py``), training curves (``plotting.py``), labels made safe for spreadsheets and
terminals (``cells.py``) and the ``xpmlp`` command: its options (``cli.py``), its subcommands
(``commands.py``) and how its processes under ``mpiexec`` fail together (``ranks.py``).

May import: backends, nn, optim, io, training, distributed, diagnostics, history, _version.
"""
