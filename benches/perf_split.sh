#!/usr/bin/env bash
# Where one echo server's CPU goes: user space / syscall entry and socket layer / TCP-IP stack.
#
#   benches/perf_split.sh SERVER [CELL]     SERVER: shardnet | tokio | epoll | glommio
#                                           CELL:   CONNSxSIZExDEPTH (default 100x64x1)
#
# Runs the `echo` bench for that one server and cell (one round, a 6 s window) while
# `perf record -e cpu-clock -C 0` samples CPU 0, where the bench pins the server (the load
# generator runs on CPU 1). Samples of the idle task are dropped; the rest are classified by
# symbol. Needs perf (Debian's linux-perf) and root or perf_event_paranoid <= 0.
set -euo pipefail
server=${1:?usage: $0 shardnet|tokio|epoll|glommio [CONNSxSIZExDEPTH]}
cell=${2:-100x64x1}
cd "$(dirname "$0")/.."
cargo build --release --bench echo >/dev/null 2>&1
dir=$(mktemp -d)
perf record -q -e cpu-clock -C 0 -o "$dir/perf.data" >/dev/null 2>&1 &
perf_pid=$!
sleep 0.5
SHARDNET_BENCH_CELLS=$cell SHARDNET_BENCH_SERVERS=$server SHARDNET_BENCH_ROUNDS=1 \
  SHARDNET_BENCH_SECS=6 cargo bench --bench echo 2>/dev/null | grep '^RESULT' || true
kill -INT "$perf_pid"
wait "$perf_pid" 2>/dev/null || true
perf report -i "$dir/perf.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null |
  awk -v server="$server" -v cell="$cell" '
    /^#/ || NF < 4 { next }
    {
      pct = $1; sub("%", "", pct); comm = $2
      if (comm == "swapper" || comm == "perf") next
      sym = $0
      if (sym ~ /\[\.\]/) { user += pct; next }
      s = $NF
      if (s ~ /^(entry_SYSCALL|do_syscall|syscall_|__x64_sys_|__sys_|x64_sys_call|exit_to_user|__fdget|fdget|fput|__fput|sock_|sockfd_|__sock_|import_iovec|copy_msghdr|__copy_msghdr|move_addr_to|ep_|do_epoll|__ep_|rw_verify|security_socket|apparmor_socket|__check_object_size|check_heap_object|__virt_addr_valid|_copy_from_user|_copy_to_user|restore_fpregs|fpregs_|switch_fpu|__rseq|rseq_)/) { sys += pct; next }
      kern += pct
    }
    END {
      total = user + sys + kern
      if (total == 0) { print "no samples"; exit 1 }
      printf "PERF server=%s cell=%s user_pct=%.1f syscall_pct=%.1f kernel_net_pct=%.1f (shares of the server CPU time sampled)\n", server, cell, 100*user/total, 100*sys/total, 100*kern/total
    }'
perf report -i "$dir/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep '\[\.\]' | head -15
rm -rf "$dir"
