"""The results path scheme is written once (`crossprobe.contract.paths`): the lists in the
Snakefile's header and in docs/outputs.md name exactly its templates."""

import itertools
import re

from crossprobe.contract import paths
from helpers import REPO

FOLDERS = {paths.RESULTS, paths.STORE, paths.JUDGE_STORE, paths.ADAPTER_DIR}


def expanded(path: str) -> set[str]:
    """`path` with each {a,b} alternative spelled out (a {wildcard} has no comma)."""
    parts = re.split(r"(\{[^{}]*,[^{}]*\})", path)
    options = [p[1:-1].split(",") if "," in p else [p] for p in parts]
    return {"".join(choice) for choice in itertools.product(*options)}


def listed(text: str) -> set[str]:
    """Every results path a list names: the first word of each line that starts with one."""
    found = set()
    for line in text.splitlines():
        line = line.lstrip("# ").strip()
        if line.startswith("results/"):
            found |= expanded(line.split()[0])
    return found


def templates() -> set[str]:
    return {
        value
        for name, value in vars(paths).items()
        if name.isupper()
        and isinstance(value, str)
        and value.startswith(paths.RESULTS)
        and value not in FOLDERS
    }


def test_the_snakefile_and_the_docs_list_exactly_the_path_scheme():
    for document in (REPO / "Snakefile", REPO / "docs/outputs.md"):
        assert listed(document.read_text()) == templates(), document
