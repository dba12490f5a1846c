// model/cli/measure.h — what `tinyllava bench` and `tinyllava roofline` share: the synthetic test
// image, one timed pass of an image question through the pipeline, the work each phase does (FLOPs
// counted from the config, weight bytes read per decode step), the machine's ceilings as text and
// JSON, and the peak-RSS bookkeeping around the ceilings' large buffer.
//
// FLOP counting convention (every "% of peak" in bench and roofline uses it):
//   GEMM / GEMV      2·M·N·K                    (x[M,K] · w[N,K]ᵀ; bias and fused activations not counted)
//   attention        4·Dh per (query, key) pair per query head (QKᵀ and PV, 2·Dh each); non-causal: T·S
//                    pairs, causal: the keys each query sees (T·(T+1)/2 for a fresh prefill)
//   patch embedding  the GEMM it is: 2·P·D·(C·p·p)
//   norms, element-wise ops, embedding gathers: not counted in the phases (small against the GEMMs)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/ceilings.h"
#include "kernels/ops.h"
#include "model/image.h"
#include "model/generate.h"
#include "weights/json.h"

namespace tl::cli {

// A 640×480 gradient-and-checkerboard image (bench's and roofline's default input).
ImageU8 synthetic_image();

// Decode in chunks with the read bandwidth probed between them. A shared host's bandwidth can change
// by 2x within seconds, so a ceiling read before and after a 2-3 s decode may describe another moment
// than the decode; each chunk of `steps` decode steps is set against the mean of the probes on either
// side of it. A probe is the read ceiling's measurement made once: one sweep of `buffer` with each
// of `kernels` (the variants of the ISA that set the ceiling), the best counted, on `threads`
// threads; its time is left out of the decode time.
struct ReadProbe {
  const cpu::ReadBuffer* buffer = nullptr;
  std::vector<cpu::ReadKernel> kernels;
  int threads = 1;
  int steps = 16;
  double gbs() const;  // one probe, now
};

struct DecodeChunk {
  int64_t first_step = 0;  // decode steps [first_step, first_step + steps) after the prompt
  int steps = 0;
  double seconds = 0;
  double read_gbs = 0;     // the mean of the probes just before and just after the chunk
};

// One pass of one image question, milliseconds (load excluded).
struct PhaseTimes {
  double preprocess_ms = 0, vision_ms = 0, projector_ms = 0, prefill_ms = 0;
  double ttft_ms = 0;     // preprocess + vision + projector + prefill + the first sample
  double decode_ms = 0;   // every step after the first token
  double decode_tok_s = 0;  // (tokens − 1) / decode time
  int decode_tokens = 0;
  int64_t prompt_positions = 0;
  std::vector<DecodeChunk> chunks;  // with a ReadProbe only
};

// Preprocesses `image`, runs `req` with it on `engine` (the vision tower runs every time), and times
// each phase; the outputs stay in `trace`. With `probe`, decode is also timed chunk by chunk.
PhaseTimes time_pipeline(Engine& engine, const ImageU8& image, Request req, Trace& trace,
                         const ReadProbe* probe = nullptr);

// Median and range of one quantity over repeated runs.
struct Spread {
  double median = 0, min = 0, max = 0;
};
Spread spread(std::vector<double> values);

// Bytes of text-model weights (OpenELM and its head) one decode step reads: everything bound under
// "language_model.".
uint64_t text_weight_bytes(const LoadedModel& m);
// Bytes of K and V cache one decode step reads on average over `tokens` steps after `prompt`
// positions (step i attends over prompt + i positions, every layer's K and V rows, `elem` bytes each).
double kv_read_bytes_per_token(const TextConfig& c, int64_t prompt, int64_t tokens, int64_t elem);
// The chunks' achieved read rate as a % of the read probed around each: step bytes (weights, and the
// KV cache at the chunk's depth) × steps / seconds / read_gbs, for a chunk starting `prompt` positions in.
double chunk_pct_of_read(const DecodeChunk& k, double weight_bytes, const TextConfig& c, int64_t prompt, int64_t elem);

// FLOPs by the convention above.
double gemm_flops(int64_t M, int64_t N, int64_t K);
double attention_flops(int64_t T, int64_t S, int64_t H, int64_t Dh, int64_t causal_offset);
double vision_flops(const VlmConfig& c);                 // patch embedding + the SigLIP layers used
double projector_flops(const VlmConfig& c);              // the two connector GEMMs
double prefill_flops(const VlmConfig& c, int64_t T);     // every OpenELM layer over T positions + the head at the last

// The matrix peak that bounds the phases' GEMMs at precision `p`: fp32 FMA for F32; for BF16 the AMX
// peak when the GEMM runs on AMX tiles, else vdpbf16ps.
struct MatrixPeak {
  std::string name;  // "fp32 FMA", "bf16 dot", "AMX bf16"
  double gflops = 0;  // all threads
};
MatrixPeak matrix_peak(const cpu::Ceilings& c, const ops::Context& k);

// "fp32 FMA 527 GFLOP/s, bf16 dot 1053 GFLOP/s, int8 dot 874 GOP/s, AMX bf16 absent" (all threads) and
// the same for one thread.
std::string peaks_text(const cpu::Ceilings& c, bool single_thread);
// ", ceilings under --isa avx2" when they were measured under a cap, else "".
std::string cap_text(const cpu::Ceilings& c);
// Adds the ceilings to a JSON object: cpu, isa_cap, read_buffer_bytes, read_variant, read_gbs_1t,
// peak_{fp32,bf16,amx_bf16}_gflops[_1t], peak_int8_gops[_1t] (0 where absent). The all-threads read
// bandwidth is the caller's (bench reports it before and after its runs).
void add_ceilings_json(json::Value& obj, const cpu::Ceilings& c);

// The ceilings' read buffer (512 MiB) raises the process's peak RSS; reset_peak_rss() sets the
// high-water mark back to the current RSS (Linux /proc/self/clear_refs), false where that is refused.
bool reset_peak_rss();
uint64_t peak_rss_bytes();

// A value rounded to `digits` decimals, for JSON numbers people read.
json::Value rounded(double v, int digits = 2);

}  // namespace tl::cli
