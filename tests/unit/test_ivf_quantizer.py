"""The IVF's two-level quantiser and top-k selection (numpy only)."""

import numpy as np

from fanno_spark.prescreen.graph import TwoLevelQuantizer, top_k


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_top_k_is_a_partial_sort_best_first():
    sims = np.array([[0.1, 0.9, 0.5, 0.7], [0.3, 0.2, 0.8, 0.1]])
    assert top_k(sims, 2).tolist() == [[1, 3], [2, 0]]
    assert top_k(sims, 9).tolist() == [[1, 3, 2, 0], [2, 0, 1, 3]]  # k beyond the columns: all, sorted


def test_two_level_cells_count_and_placement_close_to_exact():
    rng = np.random.default_rng(0)
    x = unit(rng.normal(size=(6000, 32)))
    q = TwoLevelQuantizer.fit(x[:4000], 100, 8, 0)
    assert len(q.coarse) == 10 and 90 <= q.cells <= 110  # sqrt(k) coarse cells, about k fine ones
    ranks = q.nearest(x, nprobe=2, coarse_nprobe=4)
    rows, cells = ranks[0]
    assert len(rows) == len(x) and set(cells) <= set(range(q.cells))
    exact = np.argmax(x @ np.concatenate(q.fine).T, axis=1)
    assert (cells == exact[rows]).mean() >= 0.9  # the home cell is the nearest centroid almost always
    second_rows, second = ranks[1]
    assert len(second_rows) == len(x) and (second != cells[second_rows]).all()


def test_one_cell_when_k_is_one():
    x = unit(np.random.default_rng(1).normal(size=(50, 8)))
    q = TwoLevelQuantizer.fit(x, 1, 5, 0)
    assert q.cells == 1
    ranks = q.nearest(x, nprobe=2, coarse_nprobe=4)
    assert (ranks[0][1] == 0).all() and len(ranks[1][0]) == 0  # no second cell to probe
