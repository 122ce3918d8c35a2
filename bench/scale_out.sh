#!/usr/bin/env bash
# The measurements of docs/scale-out.md: 1,000,000 persons x 10 waves from `lmm simulate`, fitted
# in memory, with --stream, and by lmm.dask.fit on a 2-worker LocalCluster (peak RSS, times, bytes
# to the client). Usage: bench/scale_out.sh [BUILD_DIR] [PERSONS] [WHAT]; WHAT is a list of
# memory, stream, stream-json and dask (default "memory stream dask"); for 10,000,000 persons (91M
# rows, 3.7 GB of CSV) use "stream": in memory it needs about 19 GB. Writes under /tmp, removes it.
set -euo pipefail
build=${1:-build}; persons=${2:-1000000}; what=${3:-memory stream dask}
csv=/tmp/lmm_scale_out_$persons.csv
py=/tmp/lmm_scale_out_dask.py  # a file: the workers (spawned processes) import the main module
trap 'rm -f "$csv" "$py"' EXIT
formula="y ~ time * group + (time | id)"
"$build/lmm" simulate --persons "$persons" --waves 0,1,2,3,4,5,6,7,8,9 --dropout 0.02 --group-effect 0.5 --seed 7 --out "$csv"
fit() {  # peak RSS, CPU and wall time of one `lmm fit`
  /usr/bin/time -f "wall %e s, user %U s, sys %S s, peak %M kB" "$build/lmm" fit "$csv" "$formula" --timings "$@"
}
for w in $what; do
  case $w in
    memory) echo "== lmm fit (in memory)"; fit --json | /usr/bin/python3 -c "import json,sys; print('loglik %.10f' % json.load(sys.stdin)['loglik'])" ;;
    stream) echo "== lmm fit --stream"; fit --stream | grep -E "^(REML|Number of obs)" ;;
    stream-json) echo "== lmm fit --stream --json"; fit --stream --json | /usr/bin/python3 -c "import json,sys; print('loglik %.10f' % json.load(sys.stdin)['loglik'])" ;;
  esac
done
case " $what " in *" dask "*) ;; *) exit 0 ;; esac
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
