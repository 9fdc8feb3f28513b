"""pagletto: NextPyter's image-pull worker (see :mod:`pagletto.contract` and
:mod:`pagletto.worker`)."""
