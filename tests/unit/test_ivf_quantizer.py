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


def test_pairs_in_a_cell_are_every_pair_above_the_threshold_once_across_blocks():
    import pandas as pd

    from fanno_spark.prescreen.graph import _pairs_in_cell

    rng = np.random.default_rng(3)
    base = unit(rng.normal(size=(6, 16)))
    x = unit(np.repeat(base, 5, axis=0) + 0.15 * rng.normal(size=(30, 16)))  # 6 groups of near neighbours
    ids = np.array([f"d{i:02d}" for i in range(30)])
    cell = pd.DataFrame({"cell": 0, "id": ids, "embedding": list(x)}).sample(frac=1.0, random_state=1)
    sims = x @ x.T
    truth = {(ids[i], ids[j]) for i in range(30) for j in range(i + 1, 30) if sims[i, j] >= 0.7}
    assert len(truth) > 30
    for block in (4, 7, 2048):  # blocks split the cell's rows: no pair lost or counted twice at their edges
        got = _pairs_in_cell(0.7, block=block)(cell)
        pairs = list(zip(got["src"], got["dst"], strict=True))
        assert len(pairs) == len(set(pairs)) and set(pairs) == truth and (got["src"] < got["dst"]).all()
        assert np.allclose(got["cosine"], [sims[int(a[1:]), int(b[1:])] for a, b in pairs], atol=1e-5)
    assert _pairs_in_cell(0.7)(cell.iloc[:1]).empty  # one document: no pair
