#!/usr/bin/env bash
# Benchmark: inputs that are large or hostile, checked offline by the release binary; nothing is
# copied. Prints the wall time and peak RSS (/usr/bin/time) of each:
#   a config of 20 000 jobs, accepted (`plan --config`) and refused at its last job (`run --config`);
#   100 000 registries; 100 000 nested `[`; an endless list on stdin; a 10 MB list with
#   `--max-images 100`; `--ca-cert /dev/zero`.
#   bash bench/inputs.sh
cd "$(dirname "$0")/.."
. examples/lib.sh
prepare

python3 - "$WORK" <<'EOF'
import sys
work = sys.argv[1]
head = "version: 1\ndefaults:\n  target: {registry: 127.0.0.1:2, namespace: m}\njobs:\n"
jobs = "".join(f"  - name: job{i}\n    images: |\n      127.0.0.1:1/app{i}:1.0\n" for i in range(20000))
open(f"{work}/jobs.yaml", "w").write(head + jobs)
open(f"{work}/jobs-bad.yaml", "w").write(head + jobs + "  - name: last\n    images: nginx\n")
open(f"{work}/registries.yaml", "w").write(
    "version: 1\nregistries:\n"
    + "".join(f"  r{i}.io:5000: {{insecure: true}}\n" for i in range(100000))
    + "  zz.example.com: {username_env: U}\njobs:\n  - name: a\n    images: x:1\n")
open(f"{work}/deep.yaml", "w").write("version: 1\njobs: " + "[" * 100000 + "\n")
with open(f"{work}/list.txt", "w") as f:
    i = 0
    while f.tell() < 10_000_000:
        f.write(f"registry.example.com/team/app{i}:1.0\n")
        i += 1
EOF

# measure WHAT COMMAND...: `WHAT  TIME, PEAK`, then the exit code and the first line on stderr.
measure() {
  local what=$1
  shift
  /usr/bin/time -o "$WORK/time" -f "%e s, %M KiB peak, exit %x" "$@" >/dev/null 2>"$WORK/stderr" || true
  printf '%-58s %s\n    %s\n' "$what" "$(tail -1 "$WORK/time")" "$(head -1 "$WORK/stderr" | cut -c1-110)"
}

measure "plan --config, 20 000 jobs (accepted)" "$BIN" plan --shards 4 --config "$WORK/jobs.yaml"
measure "run --config, 20 000 jobs, the last one refused" "$BIN" run --dry-run --config "$WORK/jobs-bad.yaml"
measure "plan --config, 100 000 registries, the last one refused" "$BIN" plan --shards 4 --config "$WORK/registries.yaml"
measure "plan --config, 100 000 nested \`[\` (refused)" "$BIN" plan --shards 4 --config "$WORK/deep.yaml"
measure "yes nginx:1.27 | validate -f - (refused)" bash -c 'yes nginx:1.27 | "$0" validate -f -' "$BIN"
measure "validate --max-images 100 -f <10 MB list> (refused)" "$BIN" validate --max-images 100 -f "$WORK/list.txt"
measure "copy --ca-cert /dev/zero (refused)" "$BIN" copy --dry-run --ca-cert /dev/zero 127.0.0.1:1/a:1 127.0.0.1:1/b:1
