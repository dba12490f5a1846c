// tools/cuda_emu/emu_launch.h — what the runtime half of the emulator (cuda_emu_runtime.cpp) calls in
// its device half (cuda_emu.cpp). Internal to tools/cuda_emu.
#pragma once

#include <cstddef>
#include <functional>

#include "cuda_emu.h"

namespace emu {

// A launch CUDA would accept: grid and block within the limits, the dynamic shared memory within the
// opt-in cap.
bool valid_launch(dim3 grid, dim3 block, size_t dynamic_smem);
// Runs a valid launch now: every block, one after another, its threads as fibers.
void run_kernel(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem,
                const std::function<void()>& thread_body);
// True while a thread of a launch runs (device code).
bool in_kernel();
// Sets the sticky error cudaGetLastError returns (cudaSuccess leaves it as it is).
void set_last_error(cudaError_t e);

}  // namespace emu
