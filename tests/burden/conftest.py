"""Fixtures of the burden data tests: real VCFs ingested as dense2 and hybrid2 stores (session-wide,
read-only), small blocks so that genes span several of them."""

from __future__ import annotations

import pytest
from burden_oracles import HAIL, KG22, KG22_META


@pytest.fixture(scope="session")
def burden_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("burden")


def _ingest(src, out, encoding, meta=None, block_size=1024):
    from gdbtools.ingest import ingest

    return ingest(src, out, metadata=meta, workers=1, progress=False, block_size=block_size, encoding=encoding)


@pytest.fixture(scope="session", params=["dense2", "hybrid2"])
def kg22_store(request, data_dir, burden_tmp):
    return _ingest(data_dir / KG22, burden_tmp / f"kg22_{request.param}", request.param, data_dir / KG22_META)


@pytest.fixture(scope="session", params=["dense2", "hybrid2"])
def hail_store(request, data_dir, burden_tmp):
    return _ingest(data_dir / HAIL, burden_tmp / f"hail_{request.param}", request.param, block_size=64)
