"""The selection hold-out of training answers: the same answers whatever their order."""

from crossprobe.contract.splits import SPLITS


def test_splits_hold_out_the_same_answers_whatever_their_order():
    from crossprobe.contract.splits import selection_split

    ids = [f"q{i}" for i in range(40)]
    fit, held = selection_split(ids, 0.1, seed=0)
    assert len(held) == 4 and not set(fit) & set(held) and len(fit) + len(held) == 40
    shuffled = ids[::-1]
    _, held_again = selection_split(shuffled, 0.1, seed=0)
    assert {ids[i] for i in held} == {shuffled[i] for i in held_again}
    assert set(selection_split(ids, 0.1, seed=1)[1]) != set(held)
    assert SPLITS == ("train", "calibration", "test")
