"""The pure core: plain functions and values over data, no network, no clock, no database.

Everything that decides what goes on air lives here (parsing ShotTracker's payload, detecting
events, the fire-once rules, the client-facing state, the operator's override and on-air
state, request validation, the hub's channel logic, signing, and how a process keeps its copy
of a game shared through Redis in step: ``replica``), so it can be tested
exhaustively with data alone. The shells in ``server.live`` and ``server.web`` only move bytes
and time in and out of it.
"""
