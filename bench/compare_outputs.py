"""Compare two trees of gdbtools result files, e.g. the same commands run by two versions (a check, not a test).

    python bench/compare_outputs.py OLD_DIR NEW_DIR

Parquet: Arrow schema, schema metadata (provenance less time, seconds and paths) and values, read back as pandas
(dtypes, index, attrs); faf columns may differ by a relative 1e-12 (SciPy's gammainccinv against
gdbtools.stats.gammainc, each such column is listed); TSV and .gz: the text byte for byte (else per column with
the same faf rule); JSON: equal less times and paths.  Exit status 1 when anything differs.

Used for the cold-start work of 2026-12-04: the outputs of `gdbtools qc` (three option sets) and `gdbtools freq`
(.tsv, .tsv.gz, .parquet) on the 5k cohort, and the default `gdbtools qc --freq --by population` on the 20k one,
from the commit before against after.
"""
import gzip
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

VOLATILE = {"time", "seconds", "path"}

def scrub(o):
    if isinstance(o, dict):
        return {k: scrub(v) for k, v in o.items() if k not in VOLATILE}
    if isinstance(o, list):
        return [scrub(v) for v in o]
    return o

def meta_of(schema):
    m = dict(schema.metadata or {})
    out = {}
    for k, v in m.items():
        j = json.loads(v)
        out[k] = scrub(j)
    return out

FAF_RTOL = 1e-12
NOTES = []

def frames_close(da, db, name):
    """Equal except faf columns within FAF_RTOL (NumPy gammainccinv against SciPy's)."""
    if list(da.columns) != list(db.columns) or not da.index.equals(db.index) or list(da.dtypes) != list(db.dtypes):
        print("  columns/index/dtypes differ")
        return False
    ok = True
    for c in da.columns:
        x, y = da[c], db[c]
        if x.equals(y):
            continue
        if c.startswith(("faf", "fafmax")) and x.dtype.kind == "f":
            rel = (x - y).abs() / y.abs().where(y != 0, 1)
            if rel.max() <= FAF_RTOL:
                NOTES.append(f"{name}:{c} max rel {rel.max():.1e}")
                continue
        print(f"  column {c} differs")
        ok = False
    return ok

def tsv_close(fa, fb, name):
    da = pd.read_csv(fa, sep="\t", dtype=str, keep_default_na=False)
    db = pd.read_csv(fb, sep="\t", dtype=str, keep_default_na=False)
    fa_, fb_ = da.copy(), db.copy()
    for c in da.columns:
        if c.startswith(("faf", "fafmax")) and not c.endswith("gen_anc"):
            fa_[c] = pd.to_numeric(da[c].replace("NA", "nan"))
            fb_[c] = pd.to_numeric(db[c].replace("NA", "nan"))
    return frames_close(fa_, fb_, name)

a, b = Path(sys.argv[1]), Path(sys.argv[2])
fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
bad = 0
if fa != fb:
    print("FILE LISTS DIFFER", set(fa) ^ set(fb))
    bad += 1
for rel in fa:
    pa_, pb_ = a / rel, b / rel
    if not pb_.exists():
        continue
    name = str(rel)
    if name.endswith(".parquet"):
        ta, tb = pq.read_table(pa_), pq.read_table(pb_)
        ok = ta.schema.remove_metadata().equals(tb.schema.remove_metadata())
        ok &= meta_of(ta.schema) == meta_of(tb.schema)
        da, db = pd.read_parquet(pa_), pd.read_parquet(pb_)
        ok &= scrub(da.attrs) == scrub(db.attrs)
        if not ta.equals(tb):
            ok &= frames_close(da, db, name)
    elif name.endswith(".gz"):
        ok = gzip.open(pa_).read() == gzip.open(pb_).read() or tsv_close(gzip.open(pa_), gzip.open(pb_), name)
    elif name.endswith(".json"):
        ok = scrub(json.loads(pa_.read_text())) == scrub(json.loads(pb_.read_text()))
    else:
        ok = pa_.read_bytes() == pb_.read_bytes() or (name.endswith(".tsv") and tsv_close(pa_, pb_, name))
    print(("same " if ok else "DIFF ") + name)
    bad += not ok
for n in NOTES:
    print("  note:", n)
print("ALL SAME" if not bad else f"{bad} DIFFERENT")
sys.exit(bool(bad))
