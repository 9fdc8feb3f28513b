"""pagletto: NextPyter's image-pull worker (see :mod:`nextpyter.pullqueue` and
:mod:`nextpyter.pagletto.worker`)."""
