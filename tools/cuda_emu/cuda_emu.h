// tools/cuda_emu/cuda_emu.h — the part of CUDA that kernels/cuda/*.cu use, for a host C++ compiler.
//
// A kernel launch runs on the CPU, one block after another. The threads of a block are cooperative
// fibers on one OS thread: a thread runs until it must wait at a barrier (__syncthreads, __syncwarp, a
// shuffle, ldmatrix, mma.sync), then the scheduler resumes the lowest-index thread that can run
// (Order::Forward) or the highest (Order::Reverse). Each run is one legal CUDA schedule, one in which
// the first warps run as far ahead as the barriers allow; a read that a missing barrier leaves
// unordered with its write goes wrong under one of the two orders. Shared memory and the workspace
// start as NaN bytes (0xff), so reading what nobody wrote shows up in the output. Anything the
// emulator cannot accept (a divergent barrier, a warp collective with exited lanes, a misaligned
// cp.async, a deadlock) ends the process with status 2 and "cuda_emu: error: ...".
//
// The shims in include/ (cuda_runtime.h, cuda_fp16.h, cuda_bf16.h) include this file, so the .cu
// files and kernels/cuda/common.cuh compile unchanged apart from what transform.py rewrites: launches
// (emu::launch), __shared__ declarations (emu::block_shared, emu::dynamic_shared) and inline PTX
// (ptx_emu.h). See README.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#include "tensor/dtype.h"

// ---- qualifiers ------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __shared__ is left undefined on purpose: transform.py rewrites every use, and one it missed does
// not compile.

// ---- vector types -----------------------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct __attribute__((aligned(8))) float2 {
  float x, y;
};
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};
struct __attribute__((aligned(16))) uint4 {
  unsigned x, y, z, w;
};

// ---- f16 / bf16 (bit-exact conversions from tensor/dtype.h: round to nearest even) ---------------------
struct __half {
  uint16_t bits;
};
struct __nv_bfloat16 {
  uint16_t bits;
};
struct __attribute__((aligned(4))) __half2 {
  __half x, y;
};
struct __attribute__((aligned(4))) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

inline float __half2float(__half h) { return tl::f16_to_f32(h.bits); }
inline __half __float2half_rn(float f) { return {tl::f32_to_f16(f)}; }
inline __half2 __floats2half2_rn(float lo, float hi) { return {__float2half_rn(lo), __float2half_rn(hi)}; }
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
inline float __bfloat162float(__nv_bfloat16 h) { return tl::bf16_to_f32(h.bits); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {tl::f32_to_bf16(f)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return {__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {__bfloat162float(h.x), __bfloat162float(h.y)}; }

// ---- runtime API (the calls the kernel files make) -----------------------------------------------------
// Values as in the CUDA toolkit. Calls that fail also set the error cudaGetLastError returns, as CUDA does.
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidPitchValue = 12,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureImplicit = 906,
  cudaErrorGraphExecUpdateFailure = 910,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
struct cudaFuncAttributes {
  size_t sharedSizeBytes = 0;  // static shared memory: not known before a launch here, so 0
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};
struct CUgraph_st;
struct CUgraphExec_st;
struct CUgraphNode_st;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;
using cudaGraphNode_t = CUgraphNode_st*;
enum cudaGraphExecUpdateResult {
  cudaGraphExecUpdateSuccess = 0,
  cudaGraphExecUpdateError = 1,
  cudaGraphExecUpdateErrorTopologyChanged = 2,
  cudaGraphExecUpdateErrorNodeTypeChanged = 3,
  cudaGraphExecUpdateErrorFunctionChanged = 4,
  cudaGraphExecUpdateErrorParametersChanged = 5,
  cudaGraphExecUpdateErrorNotSupported = 6,
};
struct cudaGraphExecUpdateResultInfo {
  cudaGraphExecUpdateResult result;
  cudaGraphNode_t errorNode;
  cudaGraphNode_t errorFromNode;
};

namespace emu {
// The device the emulator pretends to be (an H100/H200: 227 KiB opt-in shared memory per block).
constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kMaxStaticSmem = 48 * 1024;
constexpr size_t kMaxSmemOptin = 232448;
constexpr unsigned kMaxGridYZ = 65535;

cudaError_t take_last_error();     // cudaGetLastError: returns and clears the sticky error
const char* error_string(cudaError_t err);
}  // namespace emu

inline cudaError_t cudaGetLastError() { return emu::take_last_error(); }
inline const char* cudaGetErrorString(cudaError_t err) { return emu::error_string(err); }
inline cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
  if (attr != cudaDevAttrMaxSharedMemoryPerBlockOptin) return cudaErrorInvalidValue;
  *value = static_cast<int>(emu::kMaxSmemOptin);
  return cudaSuccess;
}
template <typename Kernel>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, Kernel*) {
  *attr = cudaFuncAttributes{};
  return cudaSuccess;
}
template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel*, cudaFuncAttribute, int value) {
  return value >= 0 && static_cast<size_t>(value) <= emu::kMaxSmemOptin ? cudaSuccess : cudaErrorInvalidValue;
}

// Device memory is host memory from emu::device_alloc (registered, so copies can check their direction).
// Work on a stream runs when it is issued (the emulator has no asynchrony), except while the stream is
// being captured: then it is recorded into the graph and runs at cudaGraphLaunch. See cuda_emu_runtime.cpp.
cudaError_t cudaMalloc(void** p, size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph, cudaGraphExecUpdateResultInfo* info);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);

// ---- the emulator ---------------------------------------------------------------------------------------
namespace emu {

enum class Order { Forward, Reverse };  // threads (and blocks) in index order, or the opposite
enum class Copies { Lazy, Eager };      // cp.async lands at its wait_group, or as soon as it is issued
void configure(Order order, Copies copies);
const char* order_name();
const char* copies_name();

// Runs `thread_body` once per thread of every block of `grid`. The name is the kernel's, for messages.
// A bad configuration sets the error cudaGetLastError returns and runs nothing, as CUDA does. On a
// stream being captured the launch (with a copy of thread_body and its captured arguments) is recorded
// into the graph instead.
void launch(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t,
            const std::function<void()>& thread_body);

// Where the running thread is.
uint3 thread_idx();
uint3 block_idx();
dim3 block_dim();
dim3 grid_dim();

[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Device memory (cudaMalloc, the workspace and the suites' buffers): 256-byte aligned like cudaMalloc,
// NaN bytes until written, followed (after the size rounded up to 256 bytes) by an inaccessible page,
// so accessing far past the end faults. device_free fails on a pointer device_alloc did not return.
void* device_alloc(size_t bytes);
void device_free(void* p);
// Whether [p, p + bytes) lies inside one device allocation (as requested, without the rounding).
bool is_device(const void* p, size_t bytes);
// The bytes between each allocation's requested end and the guard page must keep their NaN poison: a
// description of the first that was written (a kernel wrote past an end), or "" if none was.
std::string device_overrun();
// The engine's stream (tl::cuda::stream()): a blocking stream, the only one that can be captured.
cudaStream_t engine_stream();
// Graphs and executable graphs alive (created and not yet destroyed): a suite checks nothing leaks.
int live_graph_objects();
// The next n cudaMalloc calls fail with cudaErrorMemoryAllocation (tests of the error paths).
void fail_next_mallocs(int n);

// Shared memory of the running block. A block's first use of an allocation fills it with 0xff bytes
// (NaN as f32, f16 and bf16) and records its range, so cp.async and ldmatrix can check their addresses.
bool is_shared(const void* p, size_t bytes);
void* dynamic_shared_bytes();
void* static_shared_bytes(void* storage, size_t bytes, uint64_t* block_seen);

// `__shared__ T name[...]` becomes `auto& name = emu::block_shared<T[...], id>()`: one object per
// declaration (id) and type, re-poisoned for each block.
template <typename T, int kId>
T& block_shared() {
  alignas(128) static unsigned char storage[sizeof(T)];
  static uint64_t block_seen = 0;
  return *static_cast<T*>(static_shared_bytes(storage, sizeof(T), &block_seen));
}
// `extern __shared__ T name[]` becomes `T* name = emu::dynamic_shared<T>()`.
template <typename T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_bytes());
}

// Barriers and warp collectives. A collective needs all 32 lanes of the warp alive and at the same
// operation; the last lane to arrive computes every lane's result.
void sync_block();
void sync_warp();
enum class ShuffleMode { Index, Down, Xor };
uint64_t shuffle(uint64_t bits, int operand, ShuffleMode mode);

// cp.async (16 bytes, zero-filled when !valid), its commit and wait; ldmatrix.x4; mma.sync m16n8k16.
void cp_async_16(void* smem, const void* gmem, bool valid);
void cp_async_commit();
void cp_async_wait(int pending);
void ldmatrix_x4(uint32_t (&r)[4], const void* smem);
enum class MmaType { F16, BF16 };
void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, MmaType type);

}  // namespace emu

// ---- built-in variables and intrinsics ---------------------------------------------------------------------
#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::block_idx())
#define blockDim (::emu::block_dim())
#define gridDim (::emu::grid_dim())
constexpr int warpSize = 32;

inline void __syncthreads() { emu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  if (mask != 0xffffffffu) emu::fail("__syncwarp with a partial mask (0x%08x) is not emulated", mask);
  emu::sync_warp();
}

namespace emu {
template <typename T>
T shuffle_as(unsigned mask, T v, int operand, int width, ShuffleMode mode) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move at most 8 bytes");
  if (mask != 0xffffffffu || width != 32) fail("shuffle with mask 0x%08x, width %d: only full warps are emulated", mask, width);
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shuffle(bits, operand, mode);
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}
}  // namespace emu

template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return emu::shuffle_as(mask, v, src_lane, width, emu::ShuffleMode::Index);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return emu::shuffle_as(mask, v, static_cast<int>(delta), width, emu::ShuffleMode::Down);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return emu::shuffle_as(mask, v, lane_mask, width, emu::ShuffleMode::Xor);
}

// Read-only cache load: a plain load that checks the alignment the GPU would fault on.
template <typename T>
T __ldg(const T* p) {
  if (reinterpret_cast<uintptr_t>(p) % alignof(T) != 0)
    emu::fail("__ldg of a %zu-byte type from misaligned address %p", sizeof(T), static_cast<const void*>(p));
  return *p;
}
// Round-to-nearest F32 operations that nvcc never fuses into an FMA (g++ without -mfma does not either).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Device code calls min/max/isnan unqualified (CUDA's overloads); fmaxf, expf, fmaf, tanhf, erff, sqrtf
// come from <cmath>.
using std::isinf;
using std::isnan;
using std::max;
using std::min;
