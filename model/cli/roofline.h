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

namespace tl::cli {

struct KernelPoint {
  std::string label;     // "siglip qkv/o" — names the point in the chart and the table
  std::string group;     // "SigLIP", "prefill", "decode", "norms": the point's colour
  std::string shape;     // "729x1152 -> 1152, F16"
  double flops = 0;      // per call (measure.h's convention; norms: 8 per element layernorm, 4 rmsnorm)
  double bytes = 0;      // per call, moved from memory: weights in their stored dtype + F32 activations in and out
  double ms = 0;         // median time per call
  std::string roof;      // the compute peak that bounds it: "fp32 FMA", "bf16 dot", "AMX bf16"
  double roof_gflops = 0;

  double intensity() const { return flops / bytes; }  // FLOP per byte
  double gflops() const { return flops / (ms * 1e6); }
};

struct PhaseBar {
  std::string name;  // "SigLIP"
  double ms = 0;
};

struct RooflineChart {
  cpu::Ceilings ceilings;
  std::string precision;  // "f32" or "bf16"
  std::string date;       // "2026-11-30 12:00"
  std::string model;      // "full config (built in), F16 weights" or the checkpoint directory
  int reps = 0;
  std::vector<KernelPoint> points;
  std::vector<PhaseBar> phases;  // end to end; empty without -m
  std::string phases_note;       // "774 positions, 32 decode tokens"
};

// The chart as a standalone SVG document (log-log roofline above, end-to-end phase bar below).
std::string roofline_svg(const RooflineChart& chart);

}  // namespace tl::cli
