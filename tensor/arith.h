// tensor/arith.h — the integer arithmetic every layer sizes things with, written once: how many blocks
// of d cover n, and n rounded up to a multiple of d (d > 0, n >= 0; no overflow check). Usable in CUDA
// kernels as well as on the host. Mixed argument types name the type: ceil_div<int64_t>(n, 256).
#pragma once

#if defined(__CUDACC__)
#define TL_HOST_DEVICE __host__ __device__
#else
#define TL_HOST_DEVICE
#endif

namespace tl {

template <typename T>
TL_HOST_DEVICE constexpr T ceil_div(T n, T d) {
  return (n + d - 1) / d;
}

template <typename T>
TL_HOST_DEVICE constexpr T round_up(T n, T d) {
  return ceil_div(n, d) * d;
}

}  // namespace tl
