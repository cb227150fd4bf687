"""The simulator and the recording tools: a ShotTracker stand-in for the demo and rehearsals.

``simgame`` is a deterministic synthetic game (pure); ``simulator`` serves it over HTTP with
real signature checks; ``recording`` captures and replays a real upstream; ``loopback`` runs
such an app on a free 127.0.0.1 port beside the server.
"""
