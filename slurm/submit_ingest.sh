#!/usr/bin/env bash
# Submit a partitioned, resumable ingest: plan it here, run one array task per partition, then finalise.
#
#   slurm/submit_ingest.sh --out STORE [--metadata TSV] [--build GRCh38] [--max-parallel N]
#                          [--log-dir DIR] [--sbatch-args "-A myproject -p cpu"]
#                          [--ingest-args "--block-size 2048 --index"] INPUT...
#
# 1. `gdbtools ingest INPUT... --out STORE --partition-by contig --init` writes the plan and prints the number
#    of partitions N (on this node: it reads headers and indexes only);
# 2. sbatch --array=0-(N-1)[%max-parallel] ingest_array.sbatch  (one partition per task);
# 3. sbatch --dependency=afterok:<array> --kill-on-invalid-dep=yes ingest_finalize.sbatch.
# --ingest-args adds options of `gdbtools ingest` (the same in all three steps), e.g. --region, --block-size.
# If a partition fails, the finalise job is cancelled by SLURM and the store stays incomplete; run this
# script again with the same arguments: finished partitions are skipped, the others resume from their last
# complete block. When the store is complete already nothing is submitted (exit 0, nothing printed).
# Prints "<array job id> <finalize job id>"; job output goes to --log-dir (default STORE.logs).
# Environment: GDB_ENV, GDB_MODULES, GDBTOOLS as in the templates (exported to the jobs).
#
# Exit codes: 0 submitted; 64 usage; 65 gdbtools rejected the input at planning (exit 2); 70 failed.
set -euo pipefail

EX_USAGE=64 EX_DATAERR=65 EX_SOFTWARE=70
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

note() { printf 'submit_ingest: %s\n' "$*" >&2; }
die() { local code=$1; shift; note "ERROR: $*"; exit "$code"; }
need_value() { (( $# >= 2 )) && [[ -n $2 && $2 != --* ]] || die $EX_USAGE "$1 needs a value"; }

store='' metadata='' build='' max_parallel='' log_dir='' sbatch_args=() ingest_args=() inputs=()
while (( $# )); do
    case $1 in
        --out) need_value "$@"; store=$2; shift 2 ;;
        --metadata) need_value "$@"; metadata=$2; shift 2 ;;
        --build) need_value "$@"; build=$2; shift 2 ;;
        --max-parallel) need_value "$@"; max_parallel=$2; shift 2 ;;
        --log-dir) need_value "$@"; log_dir=$2; shift 2 ;;
        --sbatch-args) (( $# >= 2 )) || die $EX_USAGE "--sbatch-args needs a value"; read -r -a sbatch_args <<< "$2"; shift 2 ;;
        --ingest-args) (( $# >= 2 )) || die $EX_USAGE "--ingest-args needs a value"; read -r -a ingest_args <<< "$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        --) shift; inputs+=("$@"); break ;;
        -*) die $EX_USAGE "unknown option '$1' (see --help)" ;;
        *) inputs+=("$1"); shift ;;
    esac
done
[[ -n $store ]] || die $EX_USAGE "no store: give --out STORE"
(( ${#inputs[@]} )) || die $EX_USAGE "no input VCF/BCF given"
[[ -z $max_parallel || $max_parallel =~ ^[1-9][0-9]*$ ]] || die $EX_USAGE "--max-parallel must be a positive integer"
command -v sbatch > /dev/null || die $EX_USAGE "sbatch is not on PATH: run this on a SLURM login node"
[[ -n ${GDB_ENV:-} ]] && export PATH="$GDB_ENV/bin:$PATH"
read -r -a gdb <<< "${GDBTOOLS:-gdbtools}"
command -v "${gdb[0]}" > /dev/null || die $EX_USAGE "'${gdb[0]}' is not on PATH: set GDB_ENV or GDBTOOLS"

store=${store%/}
if [[ -f $store/manifest.json ]]; then
    note "$store is complete already; nothing to submit"
    exit 0
fi
args=("${inputs[@]}" --out "$store" --partition-by contig)
[[ -n $metadata ]] && args+=(--metadata "$metadata")
[[ -n $build ]] && args+=(--build "$build")
args+=("${ingest_args[@]}")
for arg in "${ingest_args[@]}"; do
    case $arg in --init|--finalize|--partition|--partition-by|--out|-o|--overwrite)
        die $EX_USAGE "--ingest-args may not contain $arg (this script sets it)" ;; esac
done

rc=0
plan=$("${gdb[@]}" ingest "${args[@]}" --init) || rc=$?
case $rc in
    0) ;;
    2) die $EX_DATAERR "gdbtools rejected the input while planning (message above)" ;;
    *) die $EX_SOFTWARE "planning failed with exit status $rc" ;;
esac
n=$(printf '%s\n' "$plan" | awk 'NF { line = $0 } END { print line }' | grep -oE '[0-9]+' | tail -n 1 || true)
[[ $n =~ ^[0-9]+$ ]] && (( n > 0 )) || die $EX_SOFTWARE "cannot read the number of partitions from: $plan"

log_dir=${log_dir:-$store.logs}
mkdir -p "$log_dir"
array_spec="0-$((n - 1))${max_parallel:+%$max_parallel}"
array=$(sbatch --parsable --array="$array_spec" --output="$log_dir/ingest-%A_%a.out" "${sbatch_args[@]}" \
        "$here/ingest_array.sbatch" "${args[@]}") || die $EX_SOFTWARE "submitting the array failed"
array=${array%%;*}
final=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
        --output="$log_dir/finalize-%j.out" "${sbatch_args[@]}" "$here/ingest_finalize.sbatch" "${args[@]}") \
    || { scancel "$array" || true; die $EX_SOFTWARE "submitting the finalise job failed (array $array cancelled)"; }
final=${final%%;*}
note "$n partitions: array job $array ($array_spec), finalise job $final after it; logs in $log_dir"
echo "$array $final"
