// tools/cuda_emu/cuda_emu_runtime.cpp — the runtime half of the emulator behind cuda_emu.h: device
// memory with guard pages, streams, stream capture and graphs, and what kernels/cuda/common.cu provides
// to the engine. Kernels run through the device half (cuda_emu.cpp, emu_launch.h).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cuda_emu.h"
#include "emu_launch.h"
#include "kernels/cuda/common.cuh"
#include "tensor/error.h"

// ---- device memory, streams and graphs: the runtime calls ---------------------------------------------------------
//
// There is no asynchrony: work issued to a stream runs before the call returns. The exception is stream
// capture (cudaStreamBeginCapture on the engine's stream): kernel launches, copies and memsets issued to
// the stream are then recorded, with copies of their arguments, and run only when an executable graph
// made from the captured graph is launched. Calls CUDA refuses while a capture is under way fail as
// there, and invalidate the capture: synchronizing, cudaMalloc/cudaFree and synchronous copies (outside
// cudaStreamCaptureModeRelaxed), work on the legacy stream (the engine's stream is a blocking one), and
// copies between the device and host memory (the emulator has no pinned memory: all host memory is
// pageable, which a graph cannot copy from). cudaGraphExecUpdate takes the parameters of a graph with
// the same nodes in the same order (kernels may change their function, grid and arguments; copies and
// memsets their addresses and sizes but not their direction) and refuses anything else.

namespace emu {

// One piece of work on a stream: a kernel launch, a copy of `height` rows of `width` bytes (a 1-D copy
// is one row), or a memset of `width` bytes.
struct Node {
  enum class Kind { Kernel, Copy, Memset };
  Kind kind = Kind::Kernel;
  const char* kernel = "";
  dim3 grid, block;
  size_t smem = 0;
  std::function<void()> body;
  void* dst = nullptr;
  const void* src = nullptr;
  size_t dpitch = 0, spitch = 0, width = 0, height = 0;
  cudaMemcpyKind dir = cudaMemcpyDefault;
  int value = 0;
};

}  // namespace emu

struct CUgraph_st {
  std::vector<emu::Node> nodes;
};
struct CUgraphExec_st {
  std::vector<emu::Node> nodes;
};

namespace emu {
namespace {

struct Allocation {
  char* base;      // of the mapping
  size_t mapped;   // bytes mapped, the guard page included
  size_t bytes;    // requested
  size_t rounded;  // the request rounded up to 256: the guard page follows
};
std::map<uintptr_t, Allocation> g_device;  // by the address device_alloc returned

// The bytes between an allocation's end and the 256-byte rounding hold 0x7fa07fa0 per aligned 4 bytes:
// a NaN when read as F32 (a signaling one: F32 arithmetic on it changes its bits, so even NaN + NaN
// written past the end shows), as F16 and as BF16.
unsigned char slack_byte(size_t i) { return (i % 2 == 0) ? 0xa0 : 0x7f; }
void fill_slack(unsigned char* data, size_t bytes, size_t rounded) {
  for (size_t i = bytes; i < rounded; ++i) data[i] = slack_byte(i);
}

struct CaptureState {
  cudaStream_t stream = nullptr;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  std::vector<Node> nodes;
};
CaptureState g_capture;
int g_live_graph_objects = 0;
int g_malloc_failures = 0;  // cudaMalloc calls still to refuse (fail_next_mallocs)
char g_engine_stream_tag;

cudaError_t set_error(cudaError_t e) {
  set_last_error(e);
  return e;
}

cudaError_t invalidate_capture(cudaError_t e) {
  g_capture.status = cudaStreamCaptureStatusInvalidated;
  g_capture.nodes.clear();
  return set_error(e);
}

// A call CUDA prohibits during a capture not begun in relaxed mode (it could synchronize implicitly).
cudaError_t check_unsafe_call() {
  if (g_capture.status != cudaStreamCaptureStatusNone && g_capture.mode != cudaStreamCaptureModeRelaxed)
    return invalidate_capture(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

const char* kind_name(cudaMemcpyKind k) {
  switch (k) {
    case cudaMemcpyHostToHost: return "HostToHost";
    case cudaMemcpyHostToDevice: return "HostToDevice";
    case cudaMemcpyDeviceToHost: return "DeviceToHost";
    case cudaMemcpyDeviceToDevice: return "DeviceToDevice";
    case cudaMemcpyDefault: return "Default";
  }
  return "?";
}

size_t extent(size_t pitch, size_t width, size_t height) { return height == 0 ? 0 : (height - 1) * pitch + width; }

// A copy's operands must be the memory its direction names, inside one allocation when on the device,
// and must not overlap. Checked when the copy is issued and again when a graph replays it (the memory
// may have been freed in between).
void check_copy_memory(const Node& n, const char* where) {
  const size_t dst_bytes = extent(n.dpitch, n.width, n.height), src_bytes = extent(n.spitch, n.width, n.height);
  if (dst_bytes == 0) return;
  const bool dst_dev = n.dir == cudaMemcpyHostToDevice || n.dir == cudaMemcpyDeviceToDevice;
  const bool src_dev = n.dir == cudaMemcpyDeviceToHost || n.dir == cudaMemcpyDeviceToDevice;
  if (n.dir != cudaMemcpyDefault) {
    if (dst_dev ? !is_device(n.dst, dst_bytes) : is_device(n.dst, 0))
      fail("%s (%s, %zu x %zu bytes): the destination %p is not %s", where, kind_name(n.dir), n.height, n.width, n.dst,
           dst_dev ? "inside one device allocation" : "host memory");
    if (src_dev ? !is_device(n.src, src_bytes) : is_device(n.src, 0))
      fail("%s (%s, %zu x %zu bytes): the source %p is not %s", where, kind_name(n.dir), n.height, n.width, n.src,
           src_dev ? "inside one device allocation" : "host memory");
  }
  const auto d = reinterpret_cast<uintptr_t>(n.dst), s = reinterpret_cast<uintptr_t>(n.src);
  if (d < s + src_bytes && s < d + dst_bytes)
    fail("%s (%s): source [%p, +%zu) and destination [%p, +%zu) overlap", where, kind_name(n.dir), n.src, src_bytes,
         n.dst, dst_bytes);
}

void execute(const Node& n) {
  switch (n.kind) {
    case Node::Kind::Kernel: run_kernel(n.kernel, n.grid, n.block, n.smem, n.body); break;
    case Node::Kind::Copy:
      for (size_t r = 0; r < n.height; ++r)
        std::memcpy(static_cast<char*>(n.dst) + r * n.dpitch, static_cast<const char*>(n.src) + r * n.spitch, n.width);
      break;
    case Node::Kind::Memset: std::memset(n.dst, n.value, n.width); break;
  }
}

// Work issued to stream s: recorded while s is captured, refused on another stream during a capture
// (only the legacy stream can be another one here, and it would wait for the capturing blocking
// stream), run now otherwise.
cudaError_t issue(cudaStream_t s, Node&& n) {
  if (g_capture.status != cudaStreamCaptureStatusNone) {
    if (s != g_capture.stream) return invalidate_capture(cudaErrorStreamCaptureImplicit);
    if (g_capture.status == cudaStreamCaptureStatusInvalidated) return set_error(cudaErrorStreamCaptureInvalidated);
    g_capture.nodes.push_back(std::move(n));
    return cudaSuccess;
  }
  execute(n);
  return cudaSuccess;
}

cudaError_t copy_2d(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                    cudaMemcpyKind kind, cudaStream_t s, bool async) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return set_error(cudaErrorInvalidMemcpyDirection);
  if (width > dpitch || width > spitch) return set_error(cudaErrorInvalidPitchValue);
  if (width > 0 && height > 0 && (dst == nullptr || src == nullptr)) return set_error(cudaErrorInvalidValue);
  if (!async) {
    if (check_unsafe_call() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  } else if (g_capture.status != cudaStreamCaptureStatusNone && s == g_capture.stream &&
             kind != cudaMemcpyDeviceToDevice) {
    return invalidate_capture(cudaErrorStreamCaptureUnsupported);  // pageable host memory in a graph
  }
  Node n;
  n.kind = Node::Kind::Copy;
  n.dst = dst;
  n.src = src;
  n.dpitch = dpitch;
  n.spitch = spitch;
  n.width = width;
  n.height = height;
  n.dir = kind;
  check_copy_memory(n, async ? "cudaMemcpy(2D)Async" : "cudaMemcpy");
  if (!async) {
    execute(n);
    return cudaSuccess;
  }
  return issue(s, std::move(n));
}

}  // namespace

void launch(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t s,
            const std::function<void()>& thread_body) {
  if (in_kernel()) fail("kernel %s launched from device code", kernel);
  if (!valid_launch(grid, block, dynamic_smem)) {
    if (g_capture.status != cudaStreamCaptureStatusNone) invalidate_capture(cudaErrorInvalidConfiguration);
    else set_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (g_capture.status == cudaStreamCaptureStatusNone) {
    run_kernel(kernel, grid, block, dynamic_smem, thread_body);
    return;
  }
  Node n;
  n.kind = Node::Kind::Kernel;
  n.kernel = kernel;
  n.grid = grid;
  n.block = block;
  n.smem = dynamic_smem;
  n.body = thread_body;  // a copy: the lambda's captured kernel arguments
  issue(s, std::move(n));
}

void* device_alloc(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  const size_t mapped = (rounded + page - 1) / page * page + page;
  char* base = static_cast<char*>(mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (base == MAP_FAILED) fail("cannot map %zu bytes of device memory", bytes);
  mprotect(base + mapped - page, page, PROT_NONE);
  char* data = base + mapped - page - rounded;
  std::memset(data, 0xff, bytes);
  fill_slack(reinterpret_cast<unsigned char*>(data), bytes, rounded);
  g_device[reinterpret_cast<uintptr_t>(data)] = {base, mapped, bytes, rounded};
  return data;
}

std::string device_overrun() {
  for (auto& [addr, a] : g_device) {
    auto* p = reinterpret_cast<unsigned char*>(addr);
    for (size_t i = a.bytes; i < a.rounded; ++i)
      if (p[i] != slack_byte(i)) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "byte %zu of a %zu-byte device allocation at %p was written (past its end)", i,
                      a.bytes, static_cast<void*>(p));
        fill_slack(p, a.bytes, a.rounded);  // reported once
        return msg;
      }
  }
  return "";
}

void device_free(void* p) {
  const auto it = g_device.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_device.end()) fail("freeing %p, which is not device memory from cudaMalloc (or was freed already)", p);
  munmap(it->second.base, it->second.mapped);
  g_device.erase(it);
}

bool is_device(const void* p, size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = g_device.upper_bound(a);
  if (it == g_device.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second.bytes && (bytes > 0 || a <= it->first + it->second.bytes);
}

cudaStream_t engine_stream() { return reinterpret_cast<cudaStream_t>(&g_engine_stream_tag); }

int live_graph_objects() { return g_live_graph_objects; }

void fail_next_mallocs(int n) { g_malloc_failures = n; }

}  // namespace emu

using emu::g_capture;
using emu::set_error;

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (emu::check_unsafe_call() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  if (emu::g_malloc_failures > 0) {
    --emu::g_malloc_failures;
    return set_error(cudaErrorMemoryAllocation);
  }
  *p = bytes == 0 ? nullptr : emu::device_alloc(bytes);
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (emu::check_unsafe_call() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  if (p) emu::device_free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return emu::copy_2d(dst, bytes, src, bytes, bytes, 1, kind, nullptr, false);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  return emu::copy_2d(dst, bytes, src, bytes, bytes, 1, kind, s, true);
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t s) {
  return emu::copy_2d(dst, dpitch, src, spitch, width, height, kind, s, true);
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s) {
  if (bytes > 0 && !emu::is_device(p, bytes))
    emu::fail("cudaMemsetAsync of %zu bytes at %p: not inside one device allocation", bytes, p);
  emu::Node n;
  n.kind = emu::Node::Kind::Memset;
  n.dst = p;
  n.width = bytes;
  n.value = value;
  return emu::issue(s, std::move(n));
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (g_capture.status != cudaStreamCaptureStatusNone) return emu::invalidate_capture(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaStreamSynchronize(nullptr); }

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  if (s == nullptr && g_capture.status != cudaStreamCaptureStatusNone) return set_error(cudaErrorStreamCaptureImplicit);
  *status = s == g_capture.stream ? g_capture.status : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (s == nullptr) return set_error(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot be captured
  if (s != emu::engine_stream()) return set_error(cudaErrorInvalidResourceHandle);
  if (g_capture.status != cudaStreamCaptureStatusNone) return set_error(cudaErrorIllegalState);
  g_capture.stream = s;
  g_capture.mode = mode;
  g_capture.status = cudaStreamCaptureStatusActive;
  g_capture.nodes.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (g_capture.status == cudaStreamCaptureStatusNone || s != g_capture.stream) return set_error(cudaErrorIllegalState);
  const bool valid = g_capture.status == cudaStreamCaptureStatusActive;
  *graph = valid ? new CUgraph_st{std::move(g_capture.nodes)} : nullptr;
  if (valid) ++emu::g_live_graph_objects;
  g_capture = emu::CaptureState{};
  return valid ? cudaSuccess : set_error(cudaErrorStreamCaptureInvalidated);
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  if (!graph) return set_error(cudaErrorInvalidValue);
  delete graph;
  --emu::g_live_graph_objects;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return set_error(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->nodes};
  ++emu::g_live_graph_objects;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  if (!exec) return set_error(cudaErrorInvalidValue);
  delete exec;
  --emu::g_live_graph_objects;
  return cudaSuccess;
}

cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph, cudaGraphExecUpdateResultInfo* info) {
  if (!exec || !graph || !info) return set_error(cudaErrorInvalidValue);
  *info = {cudaGraphExecUpdateSuccess, nullptr, nullptr};
  auto refuse = [&](cudaGraphExecUpdateResult why) {
    info->result = why;
    return set_error(cudaErrorGraphExecUpdateFailure);  // the executable graph is left as it was
  };
  if (exec->nodes.size() != graph->nodes.size()) return refuse(cudaGraphExecUpdateErrorTopologyChanged);
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    const emu::Node &a = exec->nodes[i], &b = graph->nodes[i];
    if (a.kind != b.kind) return refuse(cudaGraphExecUpdateErrorNodeTypeChanged);
    if (a.kind == emu::Node::Kind::Copy && a.dir != b.dir) return refuse(cudaGraphExecUpdateErrorParametersChanged);
  }
  exec->nodes = graph->nodes;
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
  if (!exec) return set_error(cudaErrorInvalidValue);
  if (g_capture.status != cudaStreamCaptureStatusNone) emu::fail("cudaGraphLaunch during a stream capture is not emulated");
  for (const emu::Node& n : exec->nodes) {
    if (n.kind == emu::Node::Kind::Copy) emu::check_copy_memory(n, "a graph's copy node");
    if (n.kind == emu::Node::Kind::Memset && n.width > 0 && !emu::is_device(n.dst, n.width))
      emu::fail("a graph's memset node: %zu bytes at %p are no longer device memory", n.width, n.dst);
    emu::execute(n);
  }
  return cudaSuccess;
}

// ---- the engine's CUDA context (kernels/cuda/common.cu) ---------------------------------------------------------------

namespace tl::cuda {

cudaStream_t stream() { return emu::engine_stream(); }

void synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

// Grows like the real one (never during a capture), but every call hands out NaN bytes: a kernel must
// not rely on old contents. The block is device memory from emu::device_alloc, exactly as large as the
// largest request so far (the real one rounds up to whole MiB), so reading past the request faults.
void* workspace(size_t bytes) {
  static void* block = nullptr;
  static size_t capacity = 0;
  if (bytes > capacity) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
    if (capturing != cudaStreamCaptureStatusNone)
      fail_internal("CUDA workspace: %zu bytes needed during graph capture (have %zu; reserve it before capturing)",
                    bytes, capacity);
    synchronize();
    if (block) emu::device_free(block);
    block = emu::device_alloc(bytes);
    capacity = bytes;
  }
  if (bytes > 0) std::memset(block, 0xff, bytes);
  return block;
}

}  // namespace tl::cuda
