// kernels/types.h — the value types shared by the kernel API (ops.h) and its implementations
// (kernels/ref, kernels/cpu, kernels/cuda), which include this and never each other.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace tl::ops {

// An element-wise activation applied to a product's output (fused into the GEMM's epilogue on CUDA).
enum class Epilogue { None, GeluTanh, GeluErf };

// A KV cache layer's layout on `device` (ops::kv_cache_shape): head-major [Hkv, capacity, Dh] on the
// CPU, position-major [capacity, Hkv, Dh] elsewhere.
inline bool kv_head_major(Device device) { return device == Device::CPU; }

// Attention without a causal mask (every query sees every key).
constexpr int64_t kNonCausal = -1;

// The cos/sin table of rotary position embedding (ops::rope). Angles are fp32(position · inv_freq[j])
// with inv_freq[j] = 1 / base^(2j/Dh) computed in fp32, as OpenELM does.
struct RopeTable {
  int head_dim = 0;
  int64_t positions = 0;
  uint64_t serial = 0;  // unique per make(): a device copy (kernels/cuda) knows when it is stale
  std::vector<float> cos, sin;  // [positions, head_dim / 2]
  static RopeTable make(int head_dim, double base, int64_t positions);
};

}  // namespace tl::ops
