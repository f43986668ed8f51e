"""Recommenders: collaborative models behind one interface (``recommenders``, ``ncf``), the post
feed (``post_feed``: candidate generators, features, ranker) and cross-sell (``cross_sell``).
May import ``core``, ``data`` and ``evaluation``."""
