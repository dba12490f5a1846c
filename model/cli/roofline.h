// model/cli/roofline.h — what `tinyllava roofline` measures (roofline.cpp) and draws (roofline_svg.cpp).
//
// A roofline (Williams, Waterman, Patterson, "Roofline: an insightful visual performance model", CACM
// 2009) plots each kernel at (arithmetic intensity, achieved rate) under the machine's ceilings: the
// bandwidth slope rate = GB/s × intensity and one flat roof per compute peak. A kernel under the slope
// is bound by memory, one under a roof by arithmetic; the gap to the lower of the two is what is left.
#pragma once

#include <string>
#include <vector>

#include "kernels/cpu/ceilings.h"
#include "kernels/cuda/cuda_ops.h"

namespace tl::cli {

// A compute roof: the peak of one instruction family, measured in the same run.
struct Roof {
  std::string name, short_name, unit;  // "bf16 dot (vdpbf16ps)", "bf16", "GFLOP/s"
  double gflops = 0;
  std::string colour;                  // "#9467bd"
};

// The ceilings a chart is drawn under: this CPU's (kernels/cpu/ceilings.h) or this GPU's
// (kernels/cuda/cuda_ops.h DeviceCeilings), both measured in the same run.
struct ChartCeilings {
  std::string machine;             // "AMD EPYC (family 26, model 2)", "NVIDIA H200 (sm_90)"
  std::string workers;             // "2 threads", "132 SMs"
  double read_gbs = 0;             // the bandwidth slope
  std::vector<Roof> roofs;         // highest first
  std::vector<std::string> notes;  // more lines for the legend ("1 thread:", "read 39.6 GB/s", ...)
};
ChartCeilings chart_ceilings(const cpu::Ceilings& c);
ChartCeilings chart_ceilings(const cuda::DeviceCeilings& c);

struct KernelPoint {
  std::string label;     // "siglip qkv/o" — names the point in the chart and the table
  std::string group;     // "SigLIP", "prefill", "decode", "norms": the point's colour
  std::string shape;     // "729x1152 -> 1152, F16"
  double flops = 0;      // per call (measure.h's convention; norms: 8 per element layernorm, 4 rmsnorm)
  double bytes = 0;      // per call, moved from memory: weights in their stored dtype + F32 activations in and out
  double ms = 0;         // median time per call
  std::string roof;      // the compute peak that bounds it: "fp32 FMA", "bf16 dot", "AMX bf16", "f16 tensor"
  double roof_gflops = 0;

  double intensity() const { return flops / bytes; }  // FLOP per byte
  double gflops() const { return flops / (ms * 1e6); }
};

struct PhaseBar {
  std::string name;  // "SigLIP"
  double ms = 0;
};

struct RooflineChart {
  ChartCeilings ceilings;
  std::string precision;  // "f32" or "bf16"
  std::string date;       // "2026-11-30 12:00"
  std::string model;      // "full config (built in), F16 weights" or the checkpoint directory
  int reps = 0;              // timed samples per point (the median is drawn)
  int calls_per_sample = 1;  // GPU: several calls and one wait per sample
  std::vector<KernelPoint> points;
  std::vector<PhaseBar> phases;  // end to end; empty without -m
  std::string phases_note;       // "774 positions, 32 decode tokens"
};

// The chart as a standalone SVG document (log-log roofline above, end-to-end phase bar below).
std::string roofline_svg(const RooflineChart& chart);

}  // namespace tl::cli
