// model/cli/roofline_svg.cpp — the roofline chart as SVG, written by hand (no plotting library).
//
// Layout (pixels): title and subtitle on top; the log-log roofline in [kLeft, kRight] × [kTop, kBottom]
// with decade grid lines, the read-bandwidth slope and one roof per compute peak, each labelled, and
// one dot per kernel labelled with its name; the legend to the right; the end-to-end phase bar below.
// Labels are placed greedily: the first candidate position that overlaps no earlier label or dot.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "model/cli/roofline.h"
#include "tensor/error.h"

namespace tl::cli {

namespace {

constexpr double kWidth = 1000, kHeight = 780;
constexpr double kLeft = 90, kRight = 740, kTop = 84, kBottom = 530;  // the roofline's plot area
constexpr double kBarTop = 640, kBarHeight = 34;                       // the end-to-end bar
// A white outline behind label text, so labels stay readable where they cross a line.
constexpr char kHalo[] = "stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"";

struct LogAxis {
  double lo, hi;  // data range
  double p0, p1;  // pixels of lo and hi
  double px(double v) const {
    return p0 + (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * (p1 - p0);
  }
};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string line(double x1, double y1, double x2, double y2, const char* stroke, double width, const char* dash = "") {
  return strfmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s%s%s/>\n", x1, y1,
                x2, y2, stroke, width, *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
}

// anchor: start, middle or end; extra: more attributes (fill, weight, transform).
std::string text(double x, double y, const std::string& s, double size, const char* anchor = "start",
                 const std::string& extra = "") {
  return strfmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"%s\"%s%s>%s</text>\n", x, y, size, anchor,
                extra.empty() ? "" : " ", extra.c_str(), esc(s).c_str());
}

std::string rect(double x, double y, double w, double h, const char* fill, const char* stroke = "none") {
  return strfmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>\n", x, y, w, h, fill,
                stroke);
}

const char* group_colour(const std::string& g) {
  if (g == "SigLIP") return "#1f77b4";
  if (g == "prefill") return "#ff7f0e";
  if (g == "decode") return "#d62728";
  return "#7f7f7f";
}

std::string si(double v) { return v >= 100 ? strfmt("%.0f", v) : v >= 10 ? strfmt("%.1f", v) : strfmt("%.2f", v); }

// ---- Label placement ----------------------------------------------------------------------------------

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// Box of a one-line label of `chars` characters at font `size`, drawn at (x, y) with `anchor`.
Box text_box(double x, double y, size_t chars, double size, const char* anchor) {
  const double w = 0.58 * size * chars;
  const double x0 = std::string(anchor) == "end" ? x - w : std::string(anchor) == "middle" ? x - w / 2 : x;
  return {x0, y - size * 0.8, x0 + w, y + size * 0.25};
}

class Placer {
 public:
  void occupy(const Box& b) { taken_.push_back(b); }
  // The first candidate (x, y, anchor) whose box is free and inside the plot; else the first one.
  size_t place(const std::vector<Box>& candidates) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      const Box& b = candidates[i];
      if (b.x0 < kLeft || b.x1 > kRight || b.y0 < kTop || b.y1 > kBottom) continue;
      if (std::none_of(taken_.begin(), taken_.end(), [&](const Box& t) { return t.overlaps(b); })) {
        occupy(b);
        return i;
      }
    }
    occupy(candidates.front());
    return 0;
  }

 private:
  std::vector<Box> taken_;
};

// ---- The roofline -------------------------------------------------------------------------------------

}  // namespace

ChartCeilings chart_ceilings(const cpu::Ceilings& c) {
  ChartCeilings ch;
  ch.machine = c.cpu;
  ch.workers = strfmt("%d threads", c.threads);
  if (c.cap != cpu::IsaCap::Auto) ch.workers += strfmt(", ceilings under --isa %s", cpu::isa_cap_name(c.cap));
  ch.read_gbs = c.read_all.gbs;
  if (c.amx_bf16.present()) ch.roofs.push_back({"AMX bf16 (tdpbf16ps)", "AMX bf16", "GFLOP/s", c.amx_bf16.all, "#e377c2"});
  if (c.bf16_dot.present()) ch.roofs.push_back({"bf16 dot (vdpbf16ps)", "bf16", "GFLOP/s", c.bf16_dot.all, "#9467bd"});
  if (c.int8_dot.present()) ch.roofs.push_back({"int8 dot (vpdpbusd)", "int8", "GOP/s", c.int8_dot.all, "#8c564b"});
  if (c.fp32_fma.present()) {
    const bool fma = c.fp32_fma.isa.find("mul+add") == std::string::npos;  // SSE2: mulps and addps
    ch.roofs.push_back({fma ? "fp32 FMA (vfmadd)" : "fp32 mul+add (sse2)", "fp32", "GFLOP/s", c.fp32_fma.all, "#2ca02c"});
  }
  std::sort(ch.roofs.begin(), ch.roofs.end(), [](const Roof& a, const Roof& b) { return a.gflops > b.gflops; });
  ch.notes.push_back("1 thread:");
  ch.notes.push_back(strfmt("read %.1f GB/s", c.read_single.gbs));
  if (c.fp32_fma.present()) ch.notes.push_back(strfmt("fp32 FMA %s GFLOP/s", si(c.fp32_fma.single).c_str()));
  if (c.bf16_dot.present()) ch.notes.push_back(strfmt("bf16 dot %s GFLOP/s", si(c.bf16_dot.single).c_str()));
  return ch;
}

ChartCeilings chart_ceilings(const cuda::DeviceCeilings& c) {
  ChartCeilings ch;
  ch.machine = strfmt("%s (sm_%d)", c.name.c_str(), c.compute_capability);
  ch.workers = strfmt("%d SMs", c.sms);
  ch.read_gbs = c.read_gbs;
  if (c.bf16_tc_gflops > 0) ch.roofs.push_back({"bf16 tensor cores (mma)", "bf16 tensor", "GFLOP/s", c.bf16_tc_gflops, "#9467bd"});
  if (c.f16_tc_gflops > 0) ch.roofs.push_back({"f16 tensor cores (mma)", "f16 tensor", "GFLOP/s", c.f16_tc_gflops, "#e377c2"});
  ch.roofs.push_back({"fp32 FMA (SIMT)", "fp32", "GFLOP/s", c.fp32_gflops, "#2ca02c"});
  std::sort(ch.roofs.begin(), ch.roofs.end(), [](const Roof& a, const Roof& b) { return a.gflops > b.gflops; });
  return ch;
}

namespace {

// Axes covering every point, the slope from the bottom edge and every roof with its ridge point.
void axes_for(const RooflineChart& ch, LogAxis* x, LogAxis* y) {
  const double bw = ch.ceilings.read_gbs;
  double xmin = 1e30, xmax = 0, ymin = 1e30, ymax = 0;
  for (const KernelPoint& p : ch.points) {
    xmin = std::min(xmin, p.intensity()), xmax = std::max(xmax, p.intensity());
    ymin = std::min(ymin, p.gflops()), ymax = std::max(ymax, p.gflops());
  }
  for (const Roof& r : ch.ceilings.roofs) ymax = std::max(ymax, r.gflops), xmax = std::max(xmax, r.gflops / bw);
  ymin = std::min(ymin, bw * xmin);
  *x = {std::pow(10.0, std::floor(std::log10(xmin / 1.5))), xmax * 4, kLeft, kRight};
  *y = {std::pow(10.0, std::floor(std::log10(ymin / 1.5))), ymax * 2.5, kBottom, kTop};
}

std::string grid(const LogAxis& x, const LogAxis& y) {
  std::string s = rect(kLeft, kTop, kRight - kLeft, kBottom - kTop, "#ffffff", "#444444");
  for (int d = static_cast<int>(std::floor(std::log10(x.lo))); d <= std::ceil(std::log10(x.hi)); ++d)
    for (int m = 1; m < 10; ++m) {
      const double v = m * std::pow(10.0, d);
      if (v < x.lo || v > x.hi) continue;
      s += line(x.px(v), kTop, x.px(v), kBottom, m == 1 ? "#cccccc" : "#eeeeee", 1);
      if (m == 1) s += text(x.px(v), kBottom + 18, strfmt("%g", v), 12, "middle");
    }
  for (int d = static_cast<int>(std::floor(std::log10(y.lo))); d <= std::ceil(std::log10(y.hi)); ++d)
    for (int m = 1; m < 10; ++m) {
      const double v = m * std::pow(10.0, d);
      if (v < y.lo || v > y.hi) continue;
      s += line(kLeft, y.px(v), kRight, y.px(v), m == 1 ? "#cccccc" : "#eeeeee", 1);
      if (m == 1) s += text(kLeft - 6, y.px(v) + 4, strfmt("%g", v), 12, "end");
    }
  s += text((kLeft + kRight) / 2, kBottom + 40, "arithmetic intensity (FLOP per byte moved from memory)", 13, "middle");
  s += text(28, (kTop + kBottom) / 2, "GFLOP/s  (int8 roof: GOP/s)", 13, "middle",
            strfmt("transform=\"rotate(-90 28 %.1f)\"", (kTop + kBottom) / 2));
  return s;
}

// The bandwidth slope up to the highest roof, and each roof from its ridge point to the right edge.
std::string ceilings_lines(const RooflineChart& ch, const LogAxis& x, const LogAxis& y, Placer& placer) {
  const double bw = ch.ceilings.read_gbs;
  const std::vector<Roof>& rs = ch.ceilings.roofs;
  const double top = rs.empty() ? y.hi : rs.front().gflops;
  const double xa = std::max(x.lo, y.lo / bw), xb = std::min(x.hi, top / bw);
  std::string s = line(x.px(xa), y.px(bw * xa), x.px(xb), y.px(bw * xb), "#222222", 2.5);
  for (double t = 0; t <= 1; t += 0.005) {  // no label on the slope
    const double px = x.px(xa) + t * (x.px(xb) - x.px(xa)), py = y.px(bw * xa) + t * (y.px(bw * xb) - y.px(bw * xa));
    placer.occupy({px - 2, py - 2, px + 2, py + 2});
  }
  const double angle = std::atan2(y.px(bw * xb) - y.px(bw * xa), x.px(xb) - x.px(xa)) * 180 / M_PI;
  const double lx = x.px(xa) + 0.12 * (x.px(xb) - x.px(xa)), ly = y.px(bw * xa) + 0.12 * (y.px(bw * xb) - y.px(bw * xa));
  s += text(lx, ly - 7, strfmt("read %.1f GB/s (%s)", bw, ch.ceilings.workers.c_str()), 12, "start",
            strfmt("font-weight=\"bold\" transform=\"rotate(%.1f %.1f %.1f)\"", angle, lx, ly - 7));
  // Roof labels go left of their ridge point, where nothing can be (above the slope), else at the right end.
  for (const Roof& r : rs) {
    const double x0 = std::max(x.lo, r.gflops / bw), py = y.px(r.gflops), rx = x.px(x0) - 8;
    s += line(x.px(x0), py, kRight, py, r.colour.c_str(), 2.5);
    const std::string label = strfmt("%s %s %s", r.short_name.c_str(), si(r.gflops).c_str(), r.unit.c_str());
    struct Spot {
      double x, y;
    };
    std::vector<Spot> spots;
    for (double dx : {0.0, -40.0, -80.0, -120.0})
      for (double dy : {-6.0, 15.0, -20.0, 29.0}) spots.push_back({rx + dx, py + dy});
    spots.push_back({kRight - 6, py - 6}), spots.push_back({kRight - 6, py + 15});
    std::vector<Box> cand;
    for (const Spot& sp : spots) cand.push_back(text_box(sp.x, sp.y, label.size(), 12, "end"));
    const Spot& sp = spots[placer.place(cand)];
    s += text(sp.x, sp.y, label, 12, "end", strfmt("fill=\"%s\" font-weight=\"bold\" %s", r.colour.c_str(), kHalo));
  }
  return s;
}

std::string points(const RooflineChart& ch, const LogAxis& x, const LogAxis& y, Placer& placer) {
  std::string dots, labels;
  for (const KernelPoint& p : ch.points) placer.occupy({x.px(p.intensity()) - 5, y.px(p.gflops()) - 5,
                                                        x.px(p.intensity()) + 5, y.px(p.gflops()) + 5});
  for (const KernelPoint& p : ch.points) {
    const double px = x.px(p.intensity()), py = y.px(p.gflops());
    dots += strfmt("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"1.5\"/>\n", px, py,
                   group_colour(p.group));
    struct Spot {
      double dx, dy;
      const char* anchor;
    };
    // Beside the dot first, then further up or down (with a leader line) until a free place is found.
    std::vector<Spot> spots = {{9, 4, "start"}, {-9, 4, "end"}, {0, -10, "middle"}, {0, 18, "middle"}};
    for (int ring = 1; ring <= 6; ++ring)
      for (double dy : {16.0 * ring, -16.0 * ring}) spots.push_back({14, 4 + dy, "start"}), spots.push_back({-14, 4 + dy, "end"});
    std::vector<Box> cand;
    for (const Spot& s : spots) cand.push_back(text_box(px + s.dx, py + s.dy, p.label.size(), 11, s.anchor));
    const Spot& s = spots[placer.place(cand)];
    if (std::fabs(s.dy) > 14) labels += line(px, py, px + s.dx, py + s.dy - 4, "#999999", 0.8);
    labels += text(px + s.dx, py + s.dy, p.label, 11, s.anchor, strfmt("fill=\"%s\" %s", group_colour(p.group), kHalo));
  }
  return dots + labels;
}

std::string legend(const RooflineChart& ch) {
  const double x = kRight + 22;
  double y = kTop + 8;
  std::string s = text(x, y, "kernels", 13, "start", "font-weight=\"bold\"");
  for (const char* g : {"SigLIP", "prefill", "decode", "norms"}) {
    y += 20;
    s += strfmt("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\"/>\n", x + 6, y - 4, group_colour(g));
    s += text(x + 18, y, g, 12);
  }
  y += 34;
  s += text(x, y, "ceilings (this run)", 13, "start", "font-weight=\"bold\"");
  y += 20;
  s += line(x, y - 4, x + 22, y - 4, "#222222", 2.5) + text(x + 28, y, strfmt("read %.1f GB/s", ch.ceilings.read_gbs), 12);
  for (const Roof& r : ch.ceilings.roofs) {
    y += 20;
    s += line(x, y - 4, x + 22, y - 4, r.colour.c_str(), 2.5) + text(x + 28, y, r.name, 12);
  }
  y += 13;
  for (size_t i = 0; i < ch.ceilings.notes.size(); ++i)  // the first note is a heading
    s += text(x, y += 17, ch.ceilings.notes[i], 12, "start", i == 0 ? "font-weight=\"bold\"" : "");
  y += 30;
  s += text(x, y, ch.calls_per_sample > 1 ? strfmt("points: median of %d x %d calls", ch.reps, ch.calls_per_sample)
                                            : strfmt("points: median of %d calls", ch.reps),
            11, "start", "fill=\"#555555\"");
  s += text(x, y += 15, "through kernels/ops.h at the", 11, "start", "fill=\"#555555\"");
  s += text(x, y += 15, "model's shapes (random tensors)", 11, "start", "fill=\"#555555\"");
  return s;
}

// ---- The end-to-end bar -------------------------------------------------------------------------------

const char* phase_colour(const std::string& name) {
  if (name == "SigLIP") return "#1f77b4";
  if (name == "projector") return "#9467bd";
  if (name == "prefill") return "#ff7f0e";
  if (name == "decode") return "#d62728";
  return "#7f7f7f";
}

std::string phase_bar(const RooflineChart& ch) {
  if (ch.phases.empty())
    return text(kLeft, kBarTop, "End to end: run 'tinyllava roofline -m DIR' for the bar of where the time goes.", 13, "start",
                "fill=\"#555555\"");
  double total = 0;
  for (const PhaseBar& b : ch.phases) total += b.ms;
  std::string s = text(kLeft, kBarTop - 12, strfmt("Where the time goes end to end (%s): %.0f ms", ch.phases_note.c_str(), total),
                       13, "start", "font-weight=\"bold\"");
  double x = kLeft;
  int below = 0;  // labels pushed under the bar so far
  for (const PhaseBar& b : ch.phases) {
    const double w = (kRight - kLeft) * b.ms / total;
    s += rect(x, kBarTop, w, kBarHeight, phase_colour(b.name), "#ffffff");
    const double pct = 100 * b.ms / total;
    const std::string label = strfmt("%s %s ms (%s %%)", b.name.c_str(), si(b.ms).c_str(), pct < 1 ? "<1" : strfmt("%.0f", pct).c_str());
    if (0.58 * 12 * label.size() + 8 < w) {
      s += text(x + w / 2, kBarTop + kBarHeight / 2 + 4, label, 12, "middle", "fill=\"#ffffff\" font-weight=\"bold\"");
    } else {
      const double ly = kBarTop + kBarHeight + 18 + 16 * below++;
      s += line(x + w / 2, kBarTop + kBarHeight, x + w / 2, ly - 11, "#999999", 0.8);
      s += text(x + w / 2 + 3, ly, label, 12, "start", strfmt("fill=\"%s\"", phase_colour(b.name)));
    }
    x += w;
  }
  return s;
}

}  // namespace

std::string roofline_svg(const RooflineChart& ch) {
  TL_CHECK(!ch.points.empty() && ch.ceilings.read_gbs > 0);
  LogAxis x, y;
  axes_for(ch, &x, &y);
  Placer placer;
  std::string s = strfmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                         "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
                         kWidth, kHeight, kWidth, kHeight);
  s += rect(0, 0, kWidth, kHeight, "#ffffff");
  s += text(kLeft, 32, "tinyllava roofline: " + ch.ceilings.machine, 19, "start", "font-weight=\"bold\"");
  s += text(kLeft, 56, strfmt("%s, precision %s, %s; %s", ch.ceilings.workers.c_str(), ch.precision.c_str(), ch.model.c_str(),
                              ch.date.c_str()), 13, "start", "fill=\"#444444\"");
  s += grid(x, y);
  s += ceilings_lines(ch, x, y, placer);
  s += points(ch, x, y, placer);
  s += legend(ch);
  s += phase_bar(ch);
  s += "</svg>\n";
  return s;
}

}  // namespace tl::cli
