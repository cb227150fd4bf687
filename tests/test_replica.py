"""The replica decisions (server.core.replica), alone and as a model of the whole protocol: a
process whose change feed repeats, drops, reorders and brings back its own commits still
publishes every commit exactly once, in order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.replica import APPLY, CATCH_UP, SKIP, Lease, complete, on_change, on_load


@pytest.mark.parametrize(
    ("have", "change", "reload", "step"),
    [
        (4, 5, False, APPLY),  # the next one
        (4, 4, False, SKIP),  # this process made it, or has it
        (4, 2, False, SKIP),  # an old repeat
        (4, 6, False, CATCH_UP),  # one was missed
        (4, 9, True, CATCH_UP),  # put back after Redis lost it, with more than this copy
        (9, 9, True, SKIP),  # put back by this very process
        (0, 1, False, APPLY),
    ],
)
def test_on_change(have: int, change: int, reload: bool, step: str) -> None:
    assert on_change(have, change, reload=reload) == step


def test_on_load() -> None:
    assert on_load(5, 5) == "same"
    assert on_load(5, 7) == "catch_up"
    assert on_load(5, 0) == "restore"  # Redis came back empty: put this copy back


def test_complete_means_every_seq_in_between() -> None:
    assert complete(3, 6, [4, 5, 6])
    assert complete(3, 3, [])
    assert not complete(3, 6, [5, 6])  # the stream dropped 4
    assert not complete(3, 6, [4, 5])


def test_lease_timings() -> None:
    lease = Lease(5.0)
    assert lease.renew_every_s == pytest.approx(5 / 3)
    assert lease.retry_every_s == 0.5
    assert Lease(1.5).retry_every_s == pytest.approx(0.15)
    assert lease.ttl_ms == 5000
    assert lease.valid_until(100.0) == pytest.approx(103.75)
    # renewals come well before the lead runs out
    assert lease.renew_every_s < lease.ttl_s * lease.safe
    assert Lease.may_poll(103.7, 103.75) and not Lease.may_poll(103.75, 103.75)
    assert Lease.may_poll(1e9, None)  # embedded: no lock, always
    assert lease.worst_takeover_s() == pytest.approx(5.5)


# -- the protocol as a model --------------------------------------------------------------------

# One step of the world: another process commits (its notice joins the feed), this process
# commits an operator action (compare-and-set: a conflict makes it catch up first), the feed
# delivers its oldest notice, delivers one twice, loses one, or swaps the next two.
ACTIONS = st.lists(
    st.sampled_from(["other", "mine", "deliver", "repeat", "lose", "swap"]), max_size=60
)


@settings(max_examples=400, deadline=None)
@given(start=st.integers(0, 5), actions=ACTIONS)
def test_every_commit_is_published_once_in_order(start: int, actions: list[str]) -> None:
    stored = start  # the broker's version of the game
    have = start  # this process's copy
    published: list[int] = []
    feed: list[int] = []

    def catch_up() -> None:
        nonlocal have
        if on_load(have, stored) == "catch_up":
            published.extend(range(have + 1, stored + 1))  # every missed event, in order
            have = stored

    for action in actions:
        if action == "other":
            stored += 1
            feed.append(stored)
        elif action == "mine":
            if have != stored:  # the compare-and-set fails: Conflict
                catch_up()
            stored += 1
            have = stored
            published.append(have)
            feed.append(stored)  # its own notice comes back later
        elif feed and action in ("deliver", "repeat"):
            change = feed[0] if action == "repeat" else feed.pop(0)
            step = on_change(have, change)
            if step == APPLY:
                published.append(change)
                have = change
            elif step == CATCH_UP:
                catch_up()
        elif feed and action == "lose":
            feed.pop(0)
        elif len(feed) > 1 and action == "swap":
            feed[0], feed[1] = feed[1], feed[0]
    catch_up()  # a reconnect (or the next notice) brings the copy up to date

    assert published == list(range(start + 1, stored + 1))
    assert have == stored
