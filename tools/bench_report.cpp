#include "bench_report.hpp"

#include <algorithm>
#include <cmath>

#include "common.hpp"

namespace groupconv::cli {

BenchResult measure(const suite::Layer& layer, int threads, double min_time_s, Isa max_isa,
                    suite::Pass pass) {
  BenchResult r;
  r.layer = layer;
  if (pass != suite::Pass::kForward) r.layer.name += std::string(":") + suite::to_string(pass);
  r.geometry = resolve(layer.desc(), layer.shapes());
  r.threads = threads;
  r.timing = suite::time_layer(layer, threads, min_time_s, max_isa, pass);
  r.peak_gflops = suite::kPeakGflopsPerCore * threads;
  r.roofline_gflops = suite::roofline_gflops(r.geometry, threads);
  return r;
}

std::string table_header() {
  return format("%-24s %9s %10s %9s %7s %7s  %s\n", "layer", "GFLOP", "median ms", "GFLOP/s",
                "% peak", "% roof", "kernel");
}

std::string table_row(const BenchResult& r) {
  const suite::Timing& t = r.timing;
  // A layer without work (empty batch) has no rate: show "-" rather than nan.
  auto pct = [](double num, double den) {
    const double v = 100.0 * num / den;
    return std::isfinite(v) && den > 0 ? format("%7.1f", v) : format("%7s", "-");
  };
  return format("%-24s %9.4f %10.3f %9.1f %s %s  %s\n", r.layer.name.c_str(), t.gflop, t.median_ms,
                t.gflops, pct(t.gflops, r.peak_gflops).c_str(),
                pct(t.gflops, r.roofline_gflops).c_str(), t.kernel.c_str());
}

std::string table_footer(const std::vector<BenchResult>& results) {
  // Layers without work (an empty batch) have no meaningful rate; leave them out.
  double log_gflops = 0, log_roof = 0;
  std::size_t n = 0;
  for (const auto& r : results) {
    const double roof = r.timing.gflops / r.roofline_gflops;
    if (!(r.timing.gflops > 0) || !std::isfinite(r.timing.gflops) || !(roof > 0) ||
        !std::isfinite(roof)) {
      continue;
    }
    log_gflops += std::log(r.timing.gflops);
    log_roof += std::log(roof);
    ++n;
  }
  if (n == 0) return "no layer with work to average\n";
  const double count = static_cast<double>(n);
  return format("%-24s %9s %10s %9.1f %7.1f %7.1f  (geometric mean of %zu layers)\n", "geomean", "",
                "", std::exp(log_gflops / count),
                100.0 * std::exp(log_gflops / count) / results.front().peak_gflops,
                100.0 * std::exp(log_roof / count), n);
}

namespace {

// CSV cells: quote when needed (layer and kernel names are free text).
std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A round axis step giving about 5-10 ticks up to max.
double nice_step(double max) {
  const double raw = max / 6.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10.0 * mag;
}

}  // namespace

std::string results_csv(const std::vector<BenchResult>& results) {
  std::string s = "name,threads,gflop,median_ms,gflops,kernel\n";
  for (const auto& r : results) {
    s += csv_cell(r.layer.name) +
         format(",%d,%.6f,%.6f,%.3f,", r.threads, r.timing.gflop, r.timing.median_ms,
                r.timing.gflops) +
         csv_cell(r.timing.kernel) + "\n";
  }
  return s;
}

std::string results_svg(const std::vector<BenchResult>& results, const std::string& title) {
  const double label_w = 190, chart_w = 560, value_w = 150, row_h = 22, top = 60, bottom = 50;
  const double height = top + row_h * static_cast<double>(results.size()) + bottom;
  const double width = label_w + chart_w + value_w;
  double max = 1;
  for (const auto& r : results) {
    for (double v : {r.timing.gflops, r.roofline_gflops, r.peak_gflops}) {
      if (std::isfinite(v)) max = std::max(max, v);
    }
  }
  const double step = nice_step(max);
  max = std::ceil(max / step) * step;
  auto x_of = [&](double v) {
    if (!std::isfinite(v) || v < 0) v = 0;
    return label_w + chart_w * std::min(v, max) / max;
  };
  std::string s;
  s += format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
      width, height, width, height);
  s += format("<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
  s += format("<text x=\"%.0f\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>\n",
              label_w, xml_escape(title).c_str());
  s += format(
      "<text x=\"%.0f\" y=\"40\" fill=\"#555\">bars: measured GFLOP/s; red tick: the layer's "
      "roofline; dashed: FMA peak</text>\n",
      label_w);
  const double chart_bottom = top + row_h * static_cast<double>(results.size());
  const int ticks = static_cast<int>((max + step / 2) / step);
  for (int i = 0; i <= ticks; ++i) {
    const double v = step * i;
    const double x = x_of(v);
    s += format("<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x,
                top - 4, x, chart_bottom);
    s += format("<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n", x,
                chart_bottom + 16, v);
  }
  s += format("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">GFLOP/s</text>\n",
              label_w + chart_w / 2, chart_bottom + 36);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const double y = top + row_h * static_cast<double>(i);
    s += format("<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", label_w - 8,
                y + row_h * 0.65, xml_escape(r.layer.name).c_str());
    s += format(
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4878a8\">"
        "<title>%s: %.1f GFLOP/s, %.0f%% of roofline, kernel %s</title></rect>\n",
        label_w, y + 3, x_of(r.timing.gflops) - label_w, row_h - 6,
        xml_escape(r.layer.name).c_str(), r.timing.gflops,
        100.0 * r.timing.gflops / r.roofline_gflops, xml_escape(r.timing.kernel).c_str());
    const double rx = x_of(r.roofline_gflops);
    s += format(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d03030\" "
        "stroke-width=\"3\"/>\n",
        rx, y + 1, rx, y + row_h - 1);
    s += format("<text x=\"%.0f\" y=\"%.1f\" fill=\"#333\">%.1f (%.0f%% roof)</text>\n",
                label_w + chart_w + 8, y + row_h * 0.65, r.timing.gflops,
                100.0 * r.timing.gflops / r.roofline_gflops);
  }
  if (!results.empty()) {
    const double px = x_of(results.front().peak_gflops);
    s += format(
        "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#333\" "
        "stroke-dasharray=\"5,4\"/>\n",
        px, top - 6, px, chart_bottom);
    s += format(
        "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#333\">peak %.0f</text>\n", px,
        top - 10, results.front().peak_gflops);
  }
  s += "</svg>\n";
  return s;
}

}  // namespace groupconv::cli
