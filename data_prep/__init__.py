"""The data stage's entry points (the design card keeps ``data_prep/`` at the top of the tree).

The code lives in ``careerpath/`` by stage: ``careerpath.core`` (catalog, cleaning, text format,
progression graph, the gap rule), ``careerpath.importers`` (O*NET, ESCO, observed mobility),
``careerpath.curation`` (tagging, clustering) and ``careerpath.data`` (synthesis, the dataset
build). ``python -m data_prep.build`` is ``careerpath data build``.
"""
