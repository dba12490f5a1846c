// kernels/cpu/gemv_vnni_none.cpp — builds whose compiler cannot target AVX512_VNNI: no int8 GEMV;
// quantized weights decode on the F32 GEMV (quant.inc).
#include "kernels/cpu/gemv_vnni.h"

#include "tensor/error.h"

namespace tl::cpu {

bool gemv_vnni_available() { return false; }
VnniActivations::VnniActivations(const float*, int64_t K, DType wt) : K_(K), wt_(wt) {
  fail_internal("int8 GEMV not built");
}
void VnniActivations::rows(const QuantMatrix&, const float*, float*, int64_t, int64_t) const {
  fail_internal("int8 GEMV not built");
}

}  // namespace tl::cpu
