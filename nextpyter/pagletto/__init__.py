"""pagletto: NextPyter's image-pull worker. It takes pull jobs from the queue that
:mod:`nextpyter.pullqueue` defines (the protocol it shares with the sidecar) and pulls the
images into the Docker engine.

- :mod:`.worker`: the loop; one job's course from the stream to the engine and back;
- :mod:`.errors`: what the engine said, as an error a person can act on (pure);
- :mod:`.progress`: how far a pull is, from the engine's messages (pure);
- :mod:`.stall`: the watchdog that cuts a pull the engine went silent on;
- :mod:`.config`: the settings, from the environment;
- :mod:`.__main__`: the ``pagletto`` command (run a worker, status, requeue, health).
"""
