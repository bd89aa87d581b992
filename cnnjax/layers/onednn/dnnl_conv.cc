// oneDNN 2.x convolutions as XLA FFI handlers: forward, input gradient and kernel gradient of a
// 2-D cross-correlation on NHWC activations and HWIO kernels, float32, with groups.
//
// With input x (N, H, W, C) zero-padded by (lo, hi) per spatial axis to xp, kernel k
// (KH, KW, C/G, O) for G groups, strides s and dilation d (1 = none), and o's group
// g = o / (O/G):
//
//   DnnlConvForward:         y[n, i, j, o]  = sum_{p, q, c < C/G}
//                                 xp[n, i*s0 + p*d0, j*s1 + q*d1, g*C/G + c] * k[p, q, c, o]
//   DnnlConvBackwardData:    dx = d<y, dy>/dx  (dy of y's shape; the transposed convolution)
//   DnnlConvBackwardWeights: dk = d<y, dy>/dk  = sum_{n, i, j} xp[n, i*s0 + p*d0, ...] dy[n, i, j, o]
//
// Every convolution is a oneDNN primitive. Activations are handed to oneDNN in place
// (format_tag::nhwc). The convolutions ask for the kernel in layout `any`, so oneDNN picks its
// own (blocked, e.g. OIhw8i8o, on AVX2: its direct JIT convolution; asked for plain HWIO it
// falls back to a GEMM convolution), and the kernel is reordered from and to XLA's HWIO
// around each call (kernels are small: microseconds). Primitive descriptors, primitives and
// reorders are built once per shape and attributes and kept in a process-wide cache.
//
// Threads: the Debian build of oneDNN runs on OpenMP. Each call sets the calling thread's
// OpenMP team size to DnnlConvSetNumThreads's value (Python passes XLA's CPU thread count), and
// calls run one at a time (a process-wide mutex): each already uses every core through its
// team, and XLA may start independent calls (a layer's input and kernel gradients) on two of
// its threads at once, which would put two teams on the same cores.
//
// DnnlConvCallStats reports, per pass, the calls made and the wall time spent in them (a
// training step's share of time in oneDNN: experiments/onednn/bench.py).

#include <omp.h>

#include <chrono>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using Tag = memory::format_tag;

namespace {

using Dims4 = ffi::Buffer<ffi::F32, 4>;
using Attr = ffi::Span<const int64_t>;

enum class Pass : int64_t { kForward, kBackwardData, kBackwardWeights };

// The geometry of one convolution: shapes of x, k and y plus strides, padding, dilation.
struct Geometry {
  // oneDNN's logical orders: x, y (N, C, H, W); k (O, I, KH, KW), or (G, O/G, I/G, KH, KW)
  // with groups; k_strides: XLA's HWIO (KH, KW, I/G, O) layout of k in that order.
  memory::dims x, k, y, k_strides;
  memory::dims strides, dilation_minus_one, pad_lo, pad_hi;

  std::vector<int64_t> Key(Pass pass) const {
    std::vector<int64_t> key{static_cast<int64_t>(pass)};
    for (const memory::dims* v : {&x, &k, &y, &strides, &dilation_minus_one, &pad_lo, &pad_hi})
      key.insert(key.end(), v->begin(), v->end());
    return key;
  }
};

ffi::Unexpected<ffi::Error> Invalid(std::string message) {
  return ffi::Error::InvalidArgument(std::move(message));
}

// Shapes from the XLA buffers: x (N, H, W, C), k (KH, KW, C/G, O), y (N, Ho, Wo, O).
ffi::ErrorOr<Geometry> MakeGeometry(Dims4::Dimensions x, Dims4::Dimensions k,
                                    Dims4::Dimensions y, Attr strides, Attr padding_lo,
                                    Attr padding_hi, Attr dilation, int64_t groups) {
  for (Attr a : {strides, padding_lo, padding_hi, dilation})
    if (a.size() != 2)
      return Invalid("strides, padding and dilation need 2 entries each");
  if (groups < 1 || x[3] % groups || k[3] % groups || k[2] * groups != x[3])
    return Invalid("groups = " + std::to_string(groups) + " must divide the input channels (" +
                   std::to_string(x[3]) + ") and output channels (" + std::to_string(k[3]) +
                   "), with kernel input channels (" + std::to_string(k[2]) +
                   ") = input channels / groups");
  if (y[0] != x[0] || y[3] != k[3])
    return Invalid("output batch or channels do not match input and kernel");
  Geometry g;
  const int64_t kh = k[0], kw = k[1], ig = k[2], o = k[3];
  g.x = {x[0], x[3], x[1], x[2]};
  if (groups == 1) {
    g.k = {o, ig, kh, kw};
    g.k_strides = {1, o, kw * ig * o, ig * o};
  } else {
    g.k = {groups, o / groups, ig, kh, kw};
    g.k_strides = {o / groups, 1, o, kw * ig * o, ig * o};
  }
  g.y = {y[0], y[3], y[1], y[2]};
  g.strides = {strides[0], strides[1]};
  g.dilation_minus_one = {dilation[0] - 1, dilation[1] - 1};  // oneDNN: 0 = not dilated
  g.pad_lo = {padding_lo[0], padding_lo[1]};
  g.pad_hi = {padding_hi[0], padding_hi[1]};
  return g;
}

const dnnl::engine& Engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

std::atomic<int> num_threads{0};  // 0: OpenMP's default

// A cached convolution of one pass: the primitive and, when oneDNN's kernel layout is not
// HWIO, the reorder between the two.
struct Entry {
  dnnl::primitive conv;
  memory::desc kernel_desc;      // the layout `conv` reads or writes the kernel in
  memory::desc hwio_desc;        // XLA's layout of the kernel
  dnnl::reorder kernel_reorder;  // hwio -> kernel_desc (forward, backward data) or back
  bool needs_reorder = false;
  size_t scratchpad_bytes = 0;
};

template <typename PrimitiveDesc>
void SetKernelLayout(Entry& e, const PrimitiveDesc& pd, const memory::desc& kernel_desc,
                     bool into_hwio) {
  e.kernel_desc = kernel_desc;
  e.needs_reorder = kernel_desc != e.hwio_desc;
  if (e.needs_reorder) {
    const dnnl::engine& engine = Engine();
    e.kernel_reorder =
        into_hwio ? dnnl::reorder(dnnl::reorder::primitive_desc(engine, kernel_desc, engine,
                                                                e.hwio_desc))
                  : dnnl::reorder(dnnl::reorder::primitive_desc(engine, e.hwio_desc, engine,
                                                                kernel_desc));
  }
  e.scratchpad_bytes = pd.scratchpad_desc().get_size();
}

std::unique_ptr<Entry> Build(Pass pass, const Geometry& g) {
  const dnnl::engine& engine = Engine();
  const auto f32 = memory::data_type::f32;
  const memory::desc x_desc(g.x, f32, Tag::nhwc), y_desc(g.y, f32, Tag::nhwc);
  const memory::desc kernel_request(g.k, f32, Tag::any);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // concurrent calls stay independent
  const auto algo = dnnl::algorithm::convolution_direct;
  const dnnl::convolution_forward::primitive_desc forward(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, x_desc, kernel_request,
                                      y_desc, g.strides, g.dilation_minus_one, g.pad_lo,
                                      g.pad_hi),
      attr, engine);
  auto e = std::make_unique<Entry>();
  e->hwio_desc = memory::desc(g.k, f32, g.k_strides);
  switch (pass) {
    case Pass::kForward:
      e->conv = dnnl::convolution_forward(forward);
      SetKernelLayout(*e, forward, forward.weights_desc(), /*into_hwio=*/false);
      break;
    case Pass::kBackwardData: {
      const dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(algo, x_desc, kernel_request, y_desc, g.strides,
                                                g.dilation_minus_one, g.pad_lo, g.pad_hi),
          attr, engine, forward);
      e->conv = dnnl::convolution_backward_data(pd);
      SetKernelLayout(*e, pd, pd.weights_desc(), /*into_hwio=*/false);
      break;
    }
    case Pass::kBackwardWeights: {
      const dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(algo, x_desc, kernel_request, y_desc, g.strides,
                                                   g.dilation_minus_one, g.pad_lo, g.pad_hi),
          attr, engine, forward);
      e->conv = dnnl::convolution_backward_weights(pd);
      SetKernelLayout(*e, pd, pd.diff_weights_desc(), /*into_hwio=*/true);
      break;
    }
  }
  return e;
}

// The cached entry of (pass, geometry), built on first use.
const Entry& Lookup(Pass pass, const Geometry& g) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::unique_ptr<Entry>> cache;
  const auto key = g.Key(pass);
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<Entry>& entry = cache[key];
  if (!entry) entry = Build(pass, g);
  return *entry;
}

// Per-thread buffers: oneDNN's scratchpad and the kernel in oneDNN's layout.
std::vector<char>& Grown(std::vector<char>& buffer, size_t bytes) {
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer;
}

std::atomic<int64_t> call_count[3], call_nanoseconds[3];  // per Pass

// Runs `pass` on the XLA buffers: x, k, y are the activation, kernel and output-side
// pointers (each an input or the result, depending on the pass).
ffi::Error Run(Pass pass, const Geometry& g, float* x, float* k, float* y) {
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  const auto start = std::chrono::steady_clock::now();
  try {
    const int threads = num_threads.load();
    if (threads > 0 && omp_get_max_threads() != threads) omp_set_num_threads(threads);
    const Entry& e = Lookup(pass, g);
    const dnnl::engine& engine = Engine();
    thread_local dnnl::stream stream(engine);
    thread_local std::vector<char> scratch, kernel_buffer;
    const auto f32 = memory::data_type::f32;
    memory x_mem({g.x, f32, Tag::nhwc}, engine, x), y_mem({g.y, f32, Tag::nhwc}, engine, y);
    memory hwio_mem(e.hwio_desc, engine, k);
    memory kernel_mem = e.needs_reorder
        ? memory(e.kernel_desc, engine,
                 Grown(kernel_buffer, e.kernel_desc.get_size()).data())
        : hwio_mem;
    memory scratch_mem({{static_cast<int64_t>(e.scratchpad_bytes)}, memory::data_type::u8,
                        Tag::x},
                       engine, Grown(scratch, e.scratchpad_bytes).data());
    if (e.needs_reorder && pass != Pass::kBackwardWeights)
      e.kernel_reorder.execute(stream, hwio_mem, kernel_mem);
    switch (pass) {
      case Pass::kForward:
        e.conv.execute(stream, {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, kernel_mem},
                                {DNNL_ARG_DST, y_mem}, {DNNL_ARG_SCRATCHPAD, scratch_mem}});
        break;
      case Pass::kBackwardData:
        e.conv.execute(stream, {{DNNL_ARG_DIFF_SRC, x_mem}, {DNNL_ARG_WEIGHTS, kernel_mem},
                                {DNNL_ARG_DIFF_DST, y_mem}, {DNNL_ARG_SCRATCHPAD, scratch_mem}});
        break;
      case Pass::kBackwardWeights:
        e.conv.execute(stream, {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_DIFF_WEIGHTS, kernel_mem},
                                {DNNL_ARG_DIFF_DST, y_mem}, {DNNL_ARG_SCRATCHPAD, scratch_mem}});
        if (e.needs_reorder) e.kernel_reorder.execute(stream, kernel_mem, hwio_mem);
        break;
    }
    stream.wait();
    const int p = static_cast<int>(pass);
    call_count[p] += 1;
    call_nanoseconds[p] += std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count();
    return ffi::Error::Success();
  } catch (const dnnl::error& err) {
    return ffi::Error::Internal(std::string("oneDNN: ") + err.what() + " (status " +
                                std::to_string(static_cast<int>(err.status)) + ")");
  }
}

// x (N, H, W, C), k (KH, KW, C/G, O) -> y (N, Ho, Wo, O).
ffi::Error ConvForward(Dims4 x, Dims4 k, ffi::ResultBuffer<ffi::F32, 4> y, Attr strides,
                       Attr padding_lo, Attr padding_hi, Attr dilation, int64_t groups) {
  auto g = MakeGeometry(x.dimensions(), k.dimensions(), y->dimensions(), strides, padding_lo,
                        padding_hi, dilation, groups);
  if (g.has_error()) return g.error();
  return Run(Pass::kForward, *g, x.typed_data(), k.typed_data(), y->typed_data());
}

// dy (N, Ho, Wo, O), k (KH, KW, C/G, O) -> dx (N, H, W, C).
ffi::Error ConvBackwardData(Dims4 dy, Dims4 k, ffi::ResultBuffer<ffi::F32, 4> dx, Attr strides,
                            Attr padding_lo, Attr padding_hi, Attr dilation, int64_t groups) {
  auto g = MakeGeometry(dx->dimensions(), k.dimensions(), dy.dimensions(), strides, padding_lo,
                        padding_hi, dilation, groups);
  if (g.has_error()) return g.error();
  return Run(Pass::kBackwardData, *g, dx->typed_data(), k.typed_data(), dy.typed_data());
}

// x (N, H, W, C), dy (N, Ho, Wo, O) -> dk (KH, KW, C/G, O).
ffi::Error ConvBackwardWeights(Dims4 x, Dims4 dy, ffi::ResultBuffer<ffi::F32, 4> dk,
                               Attr strides, Attr padding_lo, Attr padding_hi, Attr dilation,
                               int64_t groups) {
  auto g = MakeGeometry(x.dimensions(), dk->dimensions(), dy.dimensions(), strides, padding_lo,
                        padding_hi, dilation, groups);
  if (g.has_error()) return g.error();
  return Run(Pass::kBackwardWeights, *g, x.typed_data(), dk->typed_data(), dy.typed_data());
}

}  // namespace

#define CONV_ATTRS                \
  .Attr<Attr>("strides")          \
      .Attr<Attr>("padding_lo")   \
      .Attr<Attr>("padding_hi")   \
      .Attr<Attr>("dilation")     \
      .Attr<int64_t>("groups")

XLA_FFI_DEFINE_HANDLER_SYMBOL(DnnlConvForward, ConvForward,
                              ffi::Ffi::Bind()
                                  .Arg<Dims4>()
                                  .Arg<Dims4>()
                                  .Ret<Dims4>() CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(DnnlConvBackwardData, ConvBackwardData,
                              ffi::Ffi::Bind()
                                  .Arg<Dims4>()
                                  .Arg<Dims4>()
                                  .Ret<Dims4>() CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(DnnlConvBackwardWeights, ConvBackwardWeights,
                              ffi::Ffi::Bind()
                                  .Arg<Dims4>()
                                  .Arg<Dims4>()
                                  .Ret<Dims4>() CONV_ATTRS);

// The OpenMP team size of every later call (0: OpenMP's default, one thread per core).
extern "C" void DnnlConvSetNumThreads(int threads) { num_threads.store(threads); }

// stats[0] = calls of pass (0 forward, 1 backward data, 2 backward weights) so far,
// stats[1] = nanoseconds spent in them.
extern "C" void DnnlConvCallStats(int pass, int64_t* stats) {
  stats[0] = call_count[pass].load();
  stats[1] = call_nanoseconds[pass].load();
}
