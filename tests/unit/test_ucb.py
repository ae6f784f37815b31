import math

import pytest

from fanno_spark.generate.ucb import UCBBandit, minmax


def bandit_with(n, **kw):
    b = UCBBandit(**kw)
    for i in range(n):
        b.add(f"a{i:04d}", f"instruction {i}", reward=i / max(n - 1, 1))
    return b


@pytest.mark.parametrize("n", [1, 2, 59, 1000])
def test_choose_works_for_any_pool_size(n):
    b = bandit_with(n)
    picks = b.choose([f"d{i}" for i in range(20)])
    assert len(picks) == 20
    for ids in picks.values():
        assert len(ids) == min(3, n) and len(set(ids)) == len(ids)
        assert all(i in b.arms for i in ids)
    assert b.t == 20
    assert sum(a.count for a in b.arms.values()) == 20 * min(3, n)


def test_value_formula_matches_fanno():
    b = bandit_with(3, c=3.0)
    arm = b.arms["a0001"]
    arm.count = 4
    assert b.total() == 3 + 4  # FANNO's T: pool size + picks so far
    assert b.value(arm) == pytest.approx(arm.reward + 3.0 * math.sqrt(2 * math.log(7) / 5))


def test_fanno_t_worked_example():
    """Three arms with rewards 0, 0.5, 1; one pick per document (k=1, top 5 % -> the best arm).
    d1: T=3, values 4.447 / 4.947 / 5.447 -> a2.  d2: T=4, a2's bonus shrinks (count 1):
    4.995 / 5.495 / 4.532 -> a1.  d3: T=5: 5.382 / 4.306 / 4.806 -> a0."""
    from fanno_spark.generate.ucb import UCBBandit

    b = UCBBandit(c=3.0, top_fraction=0.05, k=1)
    for i, r in enumerate((0.0, 0.5, 1.0)):
        b.add(f"a{i}", f"arm {i}", r)
    assert [round(b.value(b.arms[a]), 3) for a in ("a0", "a1", "a2")] == [4.447, 4.947, 5.447]
    picks = b.choose(["d1", "d2", "d3"])
    assert picks == {"d1": ["a2"], "d2": ["a1"], "d3": ["a0"]}
    assert b.total() == 3 + 3 and b.t == 3


def test_top_fraction_limits_choice_to_best_arms():
    b = bandit_with(1000, top_fraction=0.05)
    picks = b.choose(["only-doc"])  # T=0: value == reward, so the top 5 % are the 50 best
    assert all(int(i[1:]) >= 950 for i in picks["only-doc"])


def test_exploration_spreads_picks():
    b = bandit_with(100, top_fraction=0.05)
    picks = b.choose([f"d{i}" for i in range(200)])
    used = {i for ids in picks.values() for i in ids}
    assert len(used) > 5  # counts raise the bonus of unused arms, so choices move on


def test_reward_update_is_running_mean():
    b = bandit_with(2)
    b.update("a0000", 1.0)
    assert b.arms["a0000"].reward == pytest.approx(0.5)
    b.update("a0000", 1.0)
    assert b.arms["a0000"].reward == pytest.approx(2 / 3)


def test_persistence_round_trip():
    b = bandit_with(7)
    b.choose(["x", "y"])
    b.update("a0003", 0.25)
    again = UCBBandit.from_json(b.to_json())
    assert again == b
    assert again.choose(["z"], round_no=3) == b.choose(["z"], round_no=3)


def test_empty_pool_is_a_clear_error():
    with pytest.raises(ValueError, match="seed pool is empty"):
        UCBBandit().choose(["d"])


def test_minmax():
    assert minmax([]) == []
    assert minmax([5, 5]) == [1.0, 1.0]
    assert minmax([0, 5, 10]) == [0.0, 0.5, 1.0]
