// tools/cuda_emu/include/cuda_bf16.h — stands in for the CUDA toolkit header when the emulator compiles
// kernels/cuda/*.cu with a host compiler (this folder comes first on the include path).
#pragma once
#include "../cuda_emu.h"
