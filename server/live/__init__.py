"""The live shell: talking to ShotTracker, polling each game, and keeping what it learned.

``upstream`` signs and sends one request and types every outcome; ``poller`` decides when to
ask again; ``ledger`` is the one writer of a game's state and event log (lock, commit to the
``broker``, then publish); ``following`` is the set of games being followed and their pollers.
The ``broker`` is where commits go: the SQLite ``store`` of one process (the embedded default)
or, with ``REDIS_URL``, ``redis_broker`` shared by many web and poll processes (``poll_role``
is ``shotfeed poll``).
"""
