"""Resource functions, called as Snakemake calls them."""

import pytest

from crossprobe.contract.resources import growing, grown


def test_requests_grow_with_each_attempt():
    mem = growing(8000)
    assert [mem({}, attempt=a) for a in (1, 2, 3)] == [8000, 16000, 32000]
    assert growing(10, factor=1.5)(None, attempt=2) == 15


def test_attempt_counts_from_one():
    with pytest.raises(ValueError, match="attempt"):
        grown(100, 0)
