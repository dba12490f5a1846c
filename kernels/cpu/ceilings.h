// kernels/cpu/ceilings.h — this machine's ceilings, measured in the same run as the numbers they bound.
//
// A kernel's GFLOP/s means little without what the hardware allows at that moment (shared machines
// swing by ±30 % within minutes, bench/RESULTS.md), so `tinyllava bench` and `tinyllava roofline`
// measure the ceilings in their own process, on the engine's own thread pool (threads.h), and report
// each phase or kernel as a fraction of them. Two kinds:
//
// Read bandwidth (GB/s = 1e9 bytes/s): a read-only sweep over a ReadBuffer far larger than the last-level
//   cache (default 512 MiB; every page written first, by the thread that later reads it, so no page
//   fault is timed and pages sit on that thread's NUMA node). Each thread sums the 32-bit words of its
//   contiguous slice (wrap-around adds: the sum is exact in any order, which makes the kernels testable,
//   and it is returned, so the loads cannot be optimised away). Variants (ReadKernel), all tried:
//     vector width   avx512 (one zmm load per 64-byte line) / avx2 (two ymm) / generic (scalar loop);
//     streams        1, 2 or 4: the slice split into that many sub-slices read in lock step (more
//                    streams keep more hardware prefetchers busy on some CPUs, fewer on others);
//     prefetch       none, or prefetcht0 1 KiB / 4 KiB ahead of each stream.
//   Every variant takes the best of `repetitions` sweeps; the best variant wins and is named. The
//   single-thread figure is the caller sweeping the whole buffer alone (best ISA's variants only).
//
// Compute peaks (GFLOP/s; int8: GOP/s), per matrix instruction family this CPU has, on 1 thread and
//   on all threads (every thread runs the same loop; total operations / wall time). Each loop is
//   independent accumulator chains with no loads, enough chains to cover latency × issue ports:
//     fp32_fma    vfmadd231ps: 24 zmm chains (AVX-512) or 12 ymm (AVX2+FMA); 2 FLOP per lane. Under
//                 the generic (SSE2) table, whose GEMM multiplies and adds separately: 6 mulps and
//                 6 addps chains, 1 FLOP per lane each (isa "sse2 mul+add"; also a CPU without FMA)
//     bf16_dot    vdpbf16ps (AVX512_BF16): 24 zmm chains; 32 bf16 products per zmm = 64 FLOP
//     int8_dot    vpdpbusd: 24 zmm chains (AVX512_VNNI) or 12 ymm (AVX-VNNI); 4 u8×s8 products per
//                 32-bit lane = 8 OP per lane
//     amx_bf16    TDPBF16PS on four 16×16 fp32 accumulator tiles from 2 A and 2 B tiles (16×32 bf16):
//                 16·16·32·2 = 16384 FLOP per instruction; only where amx_ready() (gemm_bf16.h:
//                 CPU has AMX-BF16, the OS granted the tile state, the GEMM's self-test passed)
//   An absent family has isa "" and zero rates. Each figure is the best of 3 timed runs of ~20 ms.
//
// Both kinds follow an ISA ceiling (isa.h IsaCap, the engine's `--isa`): under "avx2" the read variants
// and peaks are the AVX2 ones and bf16 dot is absent, so a run capped below the CPU is measured
// against what its own instructions can do.
//
// The whole measure_ceilings() takes ~1.5 s on a 2-core Zen 5 (most of it the bandwidth sweeps).
// Tests: tests/kernels/test_ceilings.cpp (plausibility and checksums; never timing thresholds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"

namespace tl::cpu {

// A read kernel: returns Σ p[i] mod 2^32 over p[0, n) (p 64-byte aligned).
struct ReadKernel {
  std::string name;  // "avx512 x2 streams, prefetch 1 KiB"
  std::string isa;   // "avx512", "avx2" or "generic"
  uint32_t (*sum)(const uint32_t* p, size_t n);
};
// The variants this CPU can run under `cap`: the best ISA's first, then one of each lesser ISA for
// comparison.
std::vector<ReadKernel> read_kernels(IsaCap cap = IsaCap::Auto);

// The buffer the bandwidth is read from: `bytes` (rounded down to whole 4 KiB pages, at least one),
// filled with word i = i·2654435761 mod 2^32 by the threads that read it.
class ReadBuffer {
 public:
  ReadBuffer(size_t bytes, int threads);  // pages first touched by the `threads` that will read them
  const uint32_t* words() const { return words_.get(); }
  size_t size() const { return n_; }  // in 32-bit words
  size_t bytes() const { return n_ * sizeof(uint32_t); }

 private:
  struct Free {
    void operator()(uint32_t* p) const;
  };
  std::unique_ptr<uint32_t[], Free> words_;
  size_t n_ = 0;
};

struct ReadBandwidth {
  double gbs = 0;           // GB/s of the best variant (best sweep)
  std::string variant;      // its ReadKernel::name
  int threads = 0;
  uint32_t checksum = 0;    // Σ of the buffer's words mod 2^32, as the winning sweep computed it
};

// Sweeps `buf` with each of `kernels` on `threads` threads, best of `repetitions` per kernel.
ReadBandwidth read_bandwidth(const ReadBuffer& buf, const std::vector<ReadKernel>& kernels, int threads,
                             int repetitions = 3);

struct ComputePeak {
  std::string isa;          // "avx512", "avx2", "avx-vnni", "amx"; empty: this CPU lacks the family
  double single = 0;        // GFLOP/s (GOP/s for int8), 1 thread
  double all = 0;           // GFLOP/s (GOP/s), on the `threads` the peak was measured with
  bool present() const { return !isa.empty(); }
};

ComputePeak peak_fp32_fma(int threads, IsaCap cap = IsaCap::Auto);
ComputePeak peak_bf16_dot(int threads, IsaCap cap = IsaCap::Auto);
ComputePeak peak_int8_dot(int threads, IsaCap cap = IsaCap::Auto);
ComputePeak peak_amx_bf16(int threads, IsaCap cap = IsaCap::Auto);

struct Ceilings {
  std::string cpu;          // "AMD EPYC (family 26, model 2)": /proc/cpuinfo model name + CPUID
  IsaCap cap = IsaCap::Auto;  // the ISA ceiling they were measured under
  int threads = 0;          // the threads the `all` figures used
  size_t read_buffer_bytes = 0;
  ReadBandwidth read_all;   // all threads
  ReadBandwidth read_single;
  ComputePeak fp32_fma, bf16_dot, int8_dot, amx_bf16;
};

// The CPU's name: /proc/cpuinfo "model name" (else the CPUID brand string) and CPUID family/model.
std::string cpu_name();

// Everything above, in that order (bandwidth first, then the compute loops).
Ceilings measure_ceilings(int threads, size_t read_buffer_bytes = size_t{512} << 20, IsaCap cap = IsaCap::Auto);

}  // namespace tl::cpu
