// tools/cuda_emu/cuda_emu.cpp — the device half of the emulator behind cuda_emu.h: blocks run one at a
// time, their threads as fibers on one OS thread; barriers, warp collectives, cp.async groups and shared
// memory. The runtime calls (device memory, streams, capture, graphs) are in cuda_emu_runtime.cpp.
//
// Scheduling: the scheduler always resumes the runnable thread with the lowest index (Order::Forward)
// or the highest (Order::Reverse); it runs until it waits at a barrier or exits. So the first warps
// run as far ahead of the others as the barriers allow, which is what exposes a missing barrier: round
// robin would keep the warps in lockstep. A barrier completes when its last participant arrives; for
// a warp collective that last lane also computes the results of all 32 lanes (inputs and outputs live
// in separate per-warp slots, so a lane that runs ahead to the next collective cannot overwrite what a
// slower lane has yet to read). Unfinished threads none of which can run are a deadlock.
//
// Fiber switches: a few instructions of assembly on x86-64; ucontext elsewhere, or with -DEMU_UCONTEXT
// (glibc's swapcontext makes a system call per switch: the attention suite then runs 4-5× slower).
#include "cuda_emu.h"
#include "emu_launch.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/cuda/common.cuh"

#if !defined(__x86_64__) || defined(EMU_UCONTEXT)
#define EMU_USE_UCONTEXT 1
#include <ucontext.h>
#endif

namespace emu {
namespace {

// ---- fiber contexts ---------------------------------------------------------------------------------------

#ifndef EMU_USE_UCONTEXT
// emu_switch_stack(&from_sp, to_sp): pushes the callee-saved registers, saves rsp, loads to_sp, pops.
extern "C" void emu_switch_stack(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl emu_switch_stack
  .type emu_switch_stack, @function
emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch_stack, .-emu_switch_stack
)");

struct Context {
  void* sp = nullptr;
};

// A fresh stack that "returns" into entry with the alignment of a call (rsp ≡ 8 mod 16 on entry).
void make_context(Context& c, char* stack, size_t size, void (*entry)()) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t{15};
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                         // entry's return address: entry never returns
  *--sp = reinterpret_cast<void*>(entry);  // popped by ret
  for (int i = 0; i < 6; ++i) *--sp = nullptr;  // rbp, rbx, r12-r15
  c.sp = sp;
}
void switch_context(Context& from, Context& to) { emu_switch_stack(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void make_context(Context& c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// A fiber stack with an inaccessible guard page below it (an overflow faults instead of corrupting).
class Stack {
 public:
  static constexpr size_t kBytes = 256 * 1024;
  Stack() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    base_ = static_cast<char*>(mmap(nullptr, kBytes + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) fail("cannot map a %zu-byte fiber stack", kBytes);
    mprotect(base_, page_, PROT_NONE);
  }
  ~Stack() { munmap(base_, kBytes + page_); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  char* bottom() const { return base_ + page_; }

 private:
  char* base_ = nullptr;
  size_t page_ = 0;
};

// ---- block state ------------------------------------------------------------------------------------------

// What a warp collective computes once all 32 inputs are in: out[lane] from in[0..31].
constexpr size_t kSlotBytes = 48;
using Slots = unsigned char[32][kSlotBytes];
using Complete = void (*)(const Slots& in, Slots& out);

struct Barrier {
  int expected = 0;          // participants still alive
  int arrived = 0;
  const char* op = nullptr;  // the collective the current arrivals are at (divergence check)
  std::vector<int> waiters;  // ranks of the arrived threads, made runnable on completion

  void reset(int participants) {
    expected = participants;
    arrived = 0;
    op = nullptr;
    waiters.clear();
  }
};

struct Warp {
  Barrier barrier;
  alignas(16) Slots in;
  alignas(16) Slots out;
};

struct Copy {
  void* dst;
  const void* src;
  bool valid;
};

struct Thread {
  Context context;
  uint3 idx{0, 0, 0};
  int rank = 0;  // linear index in the block
  std::vector<Copy> uncommitted;               // cp.async issued since the last commit (lazy mode)
  std::deque<std::vector<Copy>> groups;        // committed, not yet waited for
};

struct Range {
  const unsigned char* begin;
  const unsigned char* end;
};

struct State {
  Order order = Order::Forward;
  Copies copies = Copies::Lazy;
  cudaError_t last_error = cudaSuccess;

  // the launch
  const char* kernel = "";
  dim3 grid, block;
  const std::function<void()>* body = nullptr;
  std::vector<unsigned char> dynamic_storage;
  unsigned char* dynamic_smem = nullptr;  // 128-byte aligned inside dynamic_storage
  size_t dynamic_bytes = 0;

  // the block
  uint3 block_idx{0, 0, 0};
  uint64_t block_serial = 0;  // counts blocks over all launches: a new value re-poisons static shared
  int n_threads = 0;
  std::vector<Thread> threads;  // only grows: entries keep their buffers from block to block
  std::vector<Warp> warps;
  std::vector<std::unique_ptr<Stack>> stacks;
  Barrier block_barrier;
  int exited = 0;
  std::vector<Range> shared;
  size_t static_bytes = 0;
  std::vector<uint64_t> runnable;  // bit per thread: not done and not waiting at a barrier
  Context scheduler;
  int current = -1;
};

State g;

Thread& me() {
  if (g.current < 0) fail("a device function ran outside a kernel launch");
  return g.threads[static_cast<size_t>(g.current)];
}
int lane_of(const Thread& t) { return t.rank % 32; }
Warp& warp_of(const Thread& t) { return g.warps[static_cast<size_t>(t.rank / 32)]; }

void set_runnable(int rank, bool on) {
  uint64_t& word = g.runnable[static_cast<size_t>(rank / 64)];
  const uint64_t bit = uint64_t{1} << (rank % 64);
  word = on ? word | bit : word & ~bit;
}

// The next thread to run under the current order, or -1 if none can.
int pick_runnable() {
  const int words = static_cast<int>(g.runnable.size());
  for (int k = 0; k < words; ++k) {
    const int w = g.order == Order::Forward ? k : words - 1 - k;
    const uint64_t bits = g.runnable[static_cast<size_t>(w)];
    if (bits == 0) continue;
    return 64 * w + (g.order == Order::Forward ? __builtin_ctzll(bits) : 63 - __builtin_clzll(bits));
  }
  return -1;
}

void yield_to_scheduler() { switch_context(me().context, g.scheduler); }

// Arrives at b and returns once every participant has arrived. The last arrival runs `on_complete`,
// makes the others runnable and yields too, so the scheduler's order decides who goes on first.
template <class F>
void arrive_and_wait(Barrier& b, const char* op, F&& on_complete) {
  if (b.arrived == 0) b.op = op;
  else if (std::strcmp(b.op, op) != 0) fail("divergence: one thread is at %s while others wait at %s", op, b.op);
  if (++b.arrived == b.expected) {
    on_complete();
    b.arrived = 0;
    for (int rank : b.waiters) set_runnable(rank, true);
    b.waiters.clear();
  } else {
    b.waiters.push_back(me().rank);
    set_runnable(me().rank, false);
  }
  yield_to_scheduler();
}

void copy_now(const Copy& c) {
  if (c.valid) std::memcpy(c.dst, c.src, 16);
  else std::memset(c.dst, 0, 16);
}

// A thread's end: its copies must have landed, and nobody may be waiting for it at a barrier.
void thread_exit(Thread& t) {
  if (!t.uncommitted.empty()) fail("thread exited with %zu uncommitted cp.async copies", t.uncommitted.size());
  for (const auto& group : t.groups)
    if (!group.empty()) fail("thread exited with cp.async copies it never waited for");
  Warp& w = warp_of(t);
  if (w.barrier.arrived > 0) fail("thread exited while its warp waits at %s", w.barrier.op);
  if (g.block_barrier.arrived > 0) fail("thread exited while the block waits at __syncthreads");
  --w.barrier.expected;
  --g.block_barrier.expected;
  ++g.exited;
  set_runnable(t.rank, false);
}

void fiber_entry() {
  (*g.body)();
  thread_exit(me());
  switch_context(me().context, g.scheduler);
  std::abort();  // a finished fiber is never resumed
}

void run_block() {
  const int n = g.n_threads;
  if (g.threads.size() < static_cast<size_t>(n)) g.threads.resize(static_cast<size_t>(n));
  if (g.warps.size() < static_cast<size_t>((n + 31) / 32)) g.warps.resize(static_cast<size_t>((n + 31) / 32));
  for (int w = 0; w < (n + 31) / 32; ++w) g.warps[static_cast<size_t>(w)].barrier.reset(std::min(32, n - 32 * w));
  g.block_barrier.reset(n);
  g.runnable.assign(static_cast<size_t>((n + 63) / 64), 0);
  g.exited = 0;
  ++g.block_serial;
  g.shared.clear();
  g.static_bytes = 0;
  if (g.dynamic_bytes > 0) {
    std::memset(g.dynamic_smem, 0xff, g.dynamic_bytes);
    g.shared.push_back({g.dynamic_smem, g.dynamic_smem + g.dynamic_bytes});
  }
  while (g.stacks.size() < static_cast<size_t>(n)) g.stacks.push_back(std::make_unique<Stack>());
  for (int i = 0; i < n; ++i) {
    Thread& t = g.threads[static_cast<size_t>(i)];
    t.uncommitted.clear();
    t.groups.clear();
    t.rank = i;
    t.idx = {i % g.block.x, (i / g.block.x) % g.block.y, i / (g.block.x * g.block.y)};
    make_context(t.context, g.stacks[static_cast<size_t>(i)]->bottom(), Stack::kBytes, fiber_entry);
    set_runnable(i, true);
  }
  for (int i = pick_runnable(); i >= 0; i = pick_runnable()) {
    g.current = i;
    switch_context(g.scheduler, g.threads[static_cast<size_t>(i)].context);
  }
  g.current = -1;
  const int waiting = n - g.exited;
  if (waiting > 0)
    fail("deadlock in kernel %s, block (%u,%u,%u): %d threads wait at barriers that never complete (a "
         "__syncthreads or warp collective not reached by every thread)",
         g.kernel, g.block_idx.x, g.block_idx.y, g.block_idx.z, waiting);
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------------------------

void configure(Order order, Copies copies) {
  g.order = order;
  g.copies = copies;
}
const char* order_name() { return g.order == Order::Forward ? "forward" : "reverse"; }
const char* copies_name() { return g.copies == Copies::Lazy ? "lazy" : "eager"; }

void fail(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "cuda_emu: error: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (g.current >= 0) {
    const uint3 t = g.threads[static_cast<size_t>(g.current)].idx;
    std::fprintf(stderr, " [kernel %s, block (%u,%u,%u), thread (%u,%u,%u)]", g.kernel, g.block_idx.x, g.block_idx.y,
                 g.block_idx.z, t.x, t.y, t.z);
  }
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::_Exit(2);
}

namespace {

// A fault (a guard page after device memory or below a fiber stack, freed memory, a wild pointer) ends
// the run like any other emulator error: with the kernel, block and thread that faulted. Not
// async-signal-safe, but the process ends here anyway; runs on its own stack (a fiber's may be full).
void on_fault(int sig, siginfo_t* info, void*) {
  fail("%s at address %p (past the end of device memory, freed memory, a wild pointer or a full fiber stack)",
       sig == SIGBUS ? "bus error" : "invalid memory access", info->si_addr);
}

bool install_fault_handler() {
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  return true;
}
const bool g_fault_handler_installed = install_fault_handler();

}  // namespace

cudaError_t take_last_error() {
  const cudaError_t e = g.last_error;
  g.last_error = cudaSuccess;
  return e;
}

const char* error_string(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorGraphExecUpdateFailure:
      return "the graph update was not performed because it included changes which violated constraints "
             "specific to instantiated graph update";
  }
  return "unknown error";
}

bool in_kernel() { return g.current >= 0; }

void set_last_error(cudaError_t e) {
  if (e != cudaSuccess) g.last_error = e;
}

bool valid_launch(dim3 grid, dim3 block, size_t dynamic_smem) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  return grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.y <= kMaxGridYZ && grid.z <= kMaxGridYZ && threads >= 1 &&
         threads <= kMaxThreadsPerBlock && dynamic_smem <= kMaxSmemOptin;
}

// Runs a (valid) launch now: every block, one after another.
void run_kernel(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem,
                const std::function<void()>& thread_body) {
  g.kernel = kernel;
  g.grid = grid;
  g.block = block;
  g.body = &thread_body;
  g.n_threads = static_cast<int>(block.x * block.y * block.z);
  g.dynamic_bytes = dynamic_smem;
  if (g.dynamic_storage.size() < dynamic_smem + 128) g.dynamic_storage.resize(dynamic_smem + 128);
  g.dynamic_smem = g.dynamic_storage.data() + (128 - reinterpret_cast<uintptr_t>(g.dynamic_storage.data()) % 128) % 128;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  for (uint64_t k = 0; k < blocks; ++k) {
    const uint64_t b = g.order == Order::Forward ? k : blocks - 1 - k;
    g.block_idx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                   static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y))};
    run_block();
  }
  g.body = nullptr;
}

uint3 thread_idx() { return me().idx; }
uint3 block_idx() { return g.block_idx; }
dim3 block_dim() { return g.block; }
dim3 grid_dim() { return g.grid; }

// ---- shared memory ------------------------------------------------------------------------------------------

bool is_shared(const void* p, size_t bytes) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (const Range& r : g.shared)
    if (c >= r.begin && c + bytes <= r.end) return true;
  return false;
}

void* dynamic_shared_bytes() {
  if (g.current < 0) fail("dynamic shared memory used outside a kernel");
  return g.dynamic_smem;
}

void* static_shared_bytes(void* storage, size_t bytes, uint64_t* block_seen) {
  if (g.current < 0) fail("__shared__ variable used outside a kernel");
  if (*block_seen != g.block_serial) {  // the block's first use: poison and account
    *block_seen = g.block_serial;
    std::memset(storage, 0xff, bytes);
    auto* c = static_cast<unsigned char*>(storage);
    g.shared.push_back({c, c + bytes});
    g.static_bytes += bytes;
    if (g.static_bytes > kMaxStaticSmem)
      fail("%zu bytes of static shared memory, above the %zu a block may declare", g.static_bytes, kMaxStaticSmem);
    if (g.static_bytes + g.dynamic_bytes > kMaxSmemOptin)
      fail("%zu bytes of shared memory in all, above the device's %zu", g.static_bytes + g.dynamic_bytes, kMaxSmemOptin);
  }
  return storage;
}

// ---- barriers and warp collectives ----------------------------------------------------------------------------

void sync_block() {
  if (g.exited > 0) fail("__syncthreads after %d threads of the block exited", g.exited);
  arrive_and_wait(g.block_barrier, "__syncthreads", [] {});
}

namespace {

// One warp-wide operation: deposit `in`, wait for the 32 lanes, take this lane's `out`.
void warp_collective(const char* op, Complete complete, const void* in, size_t in_bytes, void* out, size_t out_bytes) {
  Thread& t = me();
  Warp& w = warp_of(t);
  if (w.barrier.expected != 32) fail("%s in a warp of %d live lanes (all 32 must take part)", op, w.barrier.expected);
  std::memcpy(w.in[lane_of(t)], in, in_bytes);
  arrive_and_wait(w.barrier, op, [&] { complete(w.in, w.out); });
  std::memcpy(out, w.out[lane_of(t)], out_bytes);
}

void complete_nothing(const Slots&, Slots&) {}

struct ShuffleIn {
  uint64_t bits;
  int32_t src_lane;  // out of range: the lane keeps its own value (CUDA's rule for down and xor)
};
void complete_shuffle(const Slots& in, Slots& out) {
  for (int lane = 0; lane < 32; ++lane) {
    ShuffleIn s;
    std::memcpy(&s, in[lane], sizeof s);
    const int src = s.src_lane >= 0 && s.src_lane < 32 ? s.src_lane : lane;
    std::memcpy(out[lane], in[src], sizeof(uint64_t));
  }
}

// ldmatrix .x4: lanes 8i..8i+7 give the rows of matrix i; lane l receives, from each matrix i, row l/4,
// elements 2(l%4) and 2(l%4)+1 (low half first).
void complete_ldmatrix(const Slots& in, Slots& out) {
  for (int lane = 0; lane < 32; ++lane) {
    uint32_t r[4];
    for (int i = 0; i < 4; ++i) {
      const uint16_t* row;
      std::memcpy(&row, in[8 * i + lane / 4], sizeof row);
      r[i] = uint32_t{row[2 * (lane % 4)]} | (uint32_t{row[2 * (lane % 4) + 1]} << 16);
    }
    std::memcpy(out[lane], r, sizeof r);
  }
}

// mma.sync.m16n8k16.row.col.f32.{f16,bf16}: fragments per the PTX ISA with g = lane/4, t = lane%4:
//   A (16×16): a0a1 (g, 2t..2t+1), a2a3 (g+8, 2t..), a4a5 (g, 2t+8..), a6a7 (g+8, 2t+8..)
//   B (16×8):  b0b1 (k 2t..2t+1, n g), b2b3 (k 2t+8.., n g)
//   C, D:      c0c1 (g, 2t..2t+1), c2c3 (g+8, 2t..2t+1)
// The products are exact; they and C are summed in double and rounded once to F32 (the hardware's
// internal accumulation order and precision are not specified, see README.md).
struct MmaIn {
  uint32_t a[4];
  uint32_t b[2];
  float c[4];
};
template <MmaType kType>
void complete_mma(const Slots& in, Slots& out) {
  auto half = [](uint32_t reg, int hi) {
    const uint16_t bits = static_cast<uint16_t>(hi ? reg >> 16 : reg & 0xffff);
    return kType == MmaType::F16 ? tl::f16_to_f32(bits) : tl::bf16_to_f32(bits);
  };
  float A[16][16], B[16][8], C[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    MmaIn f;
    std::memcpy(&f, in[lane], sizeof f);
    const int g = lane / 4, t = lane % 4;
    for (int h = 0; h < 2; ++h) {
      A[g][2 * t + h] = half(f.a[0], h);
      A[g + 8][2 * t + h] = half(f.a[1], h);
      A[g][2 * t + 8 + h] = half(f.a[2], h);
      A[g + 8][2 * t + 8 + h] = half(f.a[3], h);
      B[2 * t + h][g] = half(f.b[0], h);
      B[2 * t + 8 + h][g] = half(f.b[1], h);
      C[g][2 * t + h] = f.c[h];
      C[g + 8][2 * t + h] = f.c[2 + h];
    }
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    auto dot = [&](int m, int n) {
      double s = C[m][n];
      for (int k = 0; k < 16; ++k) s += static_cast<double>(A[m][k]) * B[k][n];
      return static_cast<float>(s);
    };
    const float d[4] = {dot(g, 2 * t), dot(g, 2 * t + 1), dot(g + 8, 2 * t), dot(g + 8, 2 * t + 1)};
    std::memcpy(out[lane], d, sizeof d);
  }
}

static_assert(sizeof(MmaIn) <= kSlotBytes && sizeof(ShuffleIn) <= kSlotBytes, "collective inputs fit a slot");

}  // namespace

void sync_warp() {
  char none = 0;
  warp_collective("__syncwarp", complete_nothing, &none, 1, &none, 1);
}

uint64_t shuffle(uint64_t bits, int operand, ShuffleMode mode) {
  const int lane = lane_of(me());
  ShuffleIn s{bits, 0};
  switch (mode) {
    case ShuffleMode::Index: s.src_lane = ((operand % 32) + 32) % 32; break;
    case ShuffleMode::Down: s.src_lane = lane + operand; break;
    case ShuffleMode::Xor: s.src_lane = lane ^ operand; break;
  }
  uint64_t result;
  warp_collective("a warp shuffle", complete_shuffle, &s, sizeof s, &result, sizeof result);
  return result;
}

void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  if (reinterpret_cast<uintptr_t>(smem) % 16 != 0 || !is_shared(smem, 16))
    fail("ldmatrix row address %p is not a 16-byte aligned shared-memory row", smem);
  warp_collective("ldmatrix.x4", complete_ldmatrix, &smem, sizeof smem, r, sizeof r);
}

void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, MmaType type) {
  MmaIn f{{a[0], a[1], a[2], a[3]}, {b0, b1}, {d[0], d[1], d[2], d[3]}};
  if (type == MmaType::F16)
    warp_collective("mma.sync.m16n8k16 (f16)", complete_mma<MmaType::F16>, &f, sizeof f, d, sizeof d);
  else
    warp_collective("mma.sync.m16n8k16 (bf16)", complete_mma<MmaType::BF16>, &f, sizeof f, d, sizeof d);
}

// ---- cp.async ---------------------------------------------------------------------------------------------------
// Lazy: a copy lands when its thread's wait_group retires its group (the latest moment CUDA allows).
// Eager: it lands when issued (the earliest). Group bookkeeping is the same in both modes.

void cp_async_16(void* smem, const void* gmem, bool valid) {
  if (reinterpret_cast<uintptr_t>(smem) % 16 != 0 || !is_shared(smem, 16))
    fail("cp.async destination %p is not 16 aligned bytes of shared memory", smem);
  if (gmem == nullptr) fail("cp.async with a null source (even a zero-fill copy needs a valid address)");
  if (valid && reinterpret_cast<uintptr_t>(gmem) % 16 != 0) fail("cp.async source %p is not 16-byte aligned", gmem);
  const Copy c{smem, gmem, valid};
  if (g.copies == Copies::Eager) copy_now(c);
  else me().uncommitted.push_back(c);
}

void cp_async_commit() {
  Thread& t = me();
  t.groups.push_back(std::move(t.uncommitted));
  t.uncommitted.clear();
}

void cp_async_wait(int pending) {
  Thread& t = me();
  if (!t.uncommitted.empty()) fail("cp.async.wait_group with %zu copies not yet committed", t.uncommitted.size());
  while (static_cast<int>(t.groups.size()) > pending) {
    for (const Copy& c : t.groups.front()) copy_now(c);
    t.groups.pop_front();
  }
}

}  // namespace emu
