"""Worker processes started from a user script that has no `if __name__ == "__main__":` guard.

A spawned worker re-imports the parent's script unless told otherwise; these scripts count how
often their body runs (once: only in the parent) and check the workers' results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SOLVER_SCRIPT = """
    import sys
    print("BODY", file=sys.stderr)
    import numpy as np
    from anncc.runtime.irdrop import MeshParams, effective_weights, parallel
    parallel._MIN_SITES_FOR_POOL = 0
    rng = np.random.default_rng(0)
    cells = [rng.uniform(1e-6, 1e-4, (72, 72)) for _ in range(3)]
    p = MeshParams(2.0, 50.0)
    got = parallel.effective_weights_many(cells, [p] * 3)
    assert parallel._POOL is not None
    assert all(np.array_equal(g, effective_weights(c, p)) for g, c in zip(got, cells))
    print("OK")
"""

JOBS_SCRIPT = """
    import sys
    print("BODY", file=sys.stderr)
    from anncc.runtime.jobs import Task, run_jobs
    out = run_jobs(dict, [Task("t0", {"b": 2}), Task("t1", {"b": 3})], {"a": 1}, workers=2)
    assert out == [{"a": 1, "b": 2}, {"a": 1, "b": 3}], out
    print("OK")
"""


def _run(tmp_path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    env = dict(os.environ, ANNCC_SOLVER_PROCESSES="2")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)


def test_the_solver_pool_does_not_rerun_an_unguarded_script(tmp_path):
    r = _run(tmp_path, SOLVER_SCRIPT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("OK")
    assert r.stderr.count("BODY") == 1, r.stderr[-2000:]


def test_a_job_pool_does_not_rerun_an_unguarded_script(tmp_path):
    r = _run(tmp_path, JOBS_SCRIPT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("OK")
    assert r.stderr.count("BODY") == 1, r.stderr[-2000:]
