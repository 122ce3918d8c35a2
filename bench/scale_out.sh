#!/usr/bin/env bash
# The measurements of docs/scale-out.md: 1,000,000 persons x 10 waves from `lmm simulate`, fitted
# in memory, with --stream, and by lmm.dask.fit on a 2-worker LocalCluster (peak RSS, times, bytes
# to the client). Usage: bench/scale_out.sh [BUILD_DIR] [PERSONS]. Writes under /tmp and removes it.
set -euo pipefail
build=${1:-build}; persons=${2:-1000000}
csv=/tmp/lmm_scale_out_$persons.csv
py=/tmp/lmm_scale_out_dask.py  # a file: the workers (spawned processes) import the main module
trap 'rm -f "$csv" "$py"' EXIT
formula="y ~ time * group + (time | id)"
"$build/lmm" simulate --persons "$persons" --waves 0,1,2,3,4,5,6,7,8,9 --dropout 0.02 --group-effect 0.5 --seed 7 --out "$csv"
for mode in "" "--stream"; do
  echo "== lmm fit $mode"
  /usr/bin/time -f "wall %e s, peak %M kB" "$build/lmm" fit "$csv" "$formula" --json --timings $mode |
    /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print('loglik %.10f' % d['loglik'])"
done
echo "== lmm.dask.fit on a LocalCluster of 2 workers"
cat > "$py" <<'PY'
import resource, sys, time
import dask.dataframe as dd, distributed
import lmm.dask
if __name__ == "__main__":
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    ddf = dd.read_csv(sys.argv[1], blocksize=32e6, dtype={"id": str, "group": str})
    t = time.time()
    m = lmm.dask.fit(sys.argv[2], ddf)
    print(f"partitions {ddf.npartitions}, {time.time() - t:.1f} s, bytes to the client {m.bytes_to_client}, "
          f"client peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, loglik {m.loglik:.10f}")
    client.close(); cluster.close()
PY
PYTHONPATH="$build/python" /usr/bin/python3 "$py" "$csv" "$formula"
