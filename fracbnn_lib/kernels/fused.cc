// Fused element-wise passes of FracBNN's quantiser and precision-gated convolution (fracbnn_lib/fused.py).
//
// - The n-bit activation quantiser's forward pass: values, int8 level indices and the byte
//   pass-through mask in one pass instead of five PyTorch kernels (any dense float32 tensor).
// - The gate's forward epilogue and backward prologue, one pass each instead of a dozen PyTorch
//   kernels, for the compact case of fracbnn_lib.layers._TwoBitConv: binary weights and a 2-bit
//   input, so the MSB-plane sum M and the LSB-plane sum L = 3 (full - msb) are integers kept as
//   int16. Tensors are float32 N x C x H x W, contiguous in NCHW or channels-last order; theta is
//   the per-channel threshold (C floats).
// Built with -ffp-contract=off: every float operation is the one PyTorch's formulation performs, in
// the same order, so the forward passes are bit-identical to it; the backward's sigmoid uses a
// polynomial exp (about 2 ulp).
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr float kMsbScale = 2.0f / 3.0f;  // weight of the MSB plane: x = 2/3 msb + 1/3 lsb
constexpr float kSharpness = 5.0f;         // the gate's surrogate is sigmoid(5 (msb - theta))

// Runs body(t, first, last) over [0, n) split into contiguous ranges, one per thread t, on the
// OpenMP runtime PyTorch has loaded (the same libgomp.so.1, so one thread pool and no second set of
// threads spinning against PyTorch's).
template <typename Body>
void parallel(int64_t n, int threads, Body body) {
    if (threads <= 1 || n < 2) {
        body(0, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), used = omp_get_num_threads();
        const int64_t chunk = (n + used - 1) / used, first = t * chunk;
        const int64_t last = first + chunk < n ? first + chunk : n;
        if (first < last) body(t, first, last);
    }
}

// exp(x) without a library call, so loops vectorise: x = k ln2 + r with |r| <= ln2 / 2, exp(r) by
// Cephes' degree-6 polynomial, 2^k through the exponent bits. Relative error about 2 ulp; x is
// clamped to [-87.3, 88.3], where float exp neither underflows nor overflows.
inline float exp_poly(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    const float k = std::nearbyint(x * 1.44269504088896341f);
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// Forward, one element: msb = 2/3 M, diff = full - msb, out = msb + 1[msb - theta > 0] diff; keeps
// M and L = round(3 diff) as int16 for the backward pass.
inline void forward_element(int64_t i, float th, const float *__restrict full, const float *__restrict msb_sum,
                            float *__restrict out, int16_t *__restrict msb16, int16_t *__restrict lsb16) {
    const float m = msb_sum[i];
    const float msb = m * kMsbScale;
    const float diff = full[i] - msb;
    const float d = msb - th;
    out[i] = (d > 0.0f ? diff : 0.0f) + msb;
    msb16[i] = static_cast<int16_t>(m);
    lsb16[i] = static_cast<int16_t>(std::nearbyint(diff * 3.0f));
}

// Backward, one element, for g = dL/dout: d = 2/3 M - theta, s = sigmoid(5 d),
// g_gate = s (1 - s) g L (zero where s < 1/2 when sparse), grad_full = g 1[d > 0],
// grad_msb = g - grad_full + scale g_gate, grad_in = grad_full + 2/3 grad_msb. Returns g_gate
// (dL/dtheta is -scale times its sum over N, H, W).
inline float backward_element(int64_t i, float th, float open_above, float scale, const float *__restrict grad,
                              const int16_t *__restrict msb16, const int16_t *__restrict lsb16,
                              float *__restrict grad_full, float *__restrict grad_msb, float *__restrict grad_in) {
    const float g = grad[i];
    const float d = static_cast<float>(msb16[i]) * kMsbScale - th;
    const float gf = g * static_cast<float>(d > 0.0f);
    const float s = 1.0f / (1.0f + exp_poly(-(d * kSharpness)));
    const float passed = g * static_cast<float>(lsb16[i]) * static_cast<float>(s > open_above);
    const float gate = passed * (1.0f - s) * s;
    const float gm = (g - gf) + scale * gate;
    grad_full[i] = gf;
    grad_msb[i] = gm;
    grad_in[i] = gf + kMsbScale * gm;
    return gate;
}

// Calls element(i, theta[c]) for every element i of rows [first, last) of the layout (a row: a
// pixel's C channels in channels-last order, inner == 1, or one image's C planes of `inner` pixels in
// NCHW order), c the channel of i; with Accumulate, adds what element returns to sums[c]. The inner
// loops vectorise (omp simd).
template <bool Accumulate, typename Element>
void sweep_rows(int64_t first, int64_t last, int64_t channels, int64_t inner, const float *__restrict theta,
                double *__restrict sums, Element element) {
    for (int64_t r = first; r < last; ++r) {
        if (inner == 1) {
            const int64_t base = r * channels;
#pragma omp simd
            for (int64_t c = 0; c < channels; ++c) {
                if constexpr (Accumulate) {
                    sums[c] += element(base + c, theta[c]);
                } else {
                    element(base + c, theta[c]);
                }
            }
        } else {
            for (int64_t c = 0; c < channels; ++c) {
                const int64_t base = (r * channels + c) * inner;
                const float th = theta[c];
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int64_t j = 0; j < inner; ++j) {
                    if constexpr (Accumulate) {
                        sum += element(base + j, th);
                    } else {
                        element(base + j, th);
                    }
                }
                if constexpr (Accumulate) sums[c] += sum;
            }
        }
    }
}

// The quantiser over elements [first, last), writing the level indices and the mask if asked for.
template <bool Levels, bool Mask>
void quantize_range(const float *__restrict x, float step, float clip, float *__restrict y,
                    int8_t *__restrict levels, uint8_t *__restrict inside, int64_t first, int64_t last) {
#pragma omp simd
    for (int64_t i = first; i < last; ++i) {
        const float v = x[i];
        const float k = std::nearbyint(((v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v)) + 1.0f) / step);
        y[i] = k * step - 1.0f;
        if constexpr (Levels) levels[i] = static_cast<int8_t>(k);
        if constexpr (Mask) inside[i] = std::fabs(v) < clip;
    }
}

}  // namespace

extern "C" {

int fracbnn_fused_version() { return 2; }

void fracbnn_gate_forward(const float *full, const float *msb_sum, const float *theta, float *out, int16_t *msb16,
                          int16_t *lsb16, int64_t n, int64_t channels, int64_t inner, int threads) {
    const int64_t rows = n / (channels * inner);
    parallel(rows, threads, [=](int, int64_t first, int64_t last) {
        sweep_rows<false>(first, last, channels, inner, theta, nullptr, [=](int64_t i, float th) {
            forward_element(i, th, full, msb_sum, out, msb16, lsb16);
        });
    });
}

// theta_sums (C doubles) receives the per-channel sums of g_gate. sparse: the gradient passes the
// gate only where s >= 1/2 (s > 1/2 - eps/4 in float, exactly PyTorch's comparison).
void fracbnn_gate_backward(const float *grad, const int16_t *msb16, const int16_t *lsb16, const float *theta,
                           int sparse, float scale, float *grad_full, float *grad_msb, float *grad_in,
                           double *theta_sums, int64_t n, int64_t channels, int64_t inner, int threads) {
    const float open_above = sparse ? 0.5f - 1.1920928955078125e-07f / 4.0f : -1.0f;
    const int slots = threads > 1 ? threads : 1;
    const int64_t stride = (channels + 15) / 8 * 8;  // at least one 64-byte line between two threads' sums
    std::vector<double> partial(static_cast<size_t>(slots) * stride, 0.0);
    double *sums = partial.data();
    const int64_t rows = n / (channels * inner);
    parallel(rows, threads, [=](int t, int64_t first, int64_t last) {
        sweep_rows<true>(first, last, channels, inner, theta, sums + t * stride, [=](int64_t i, float th) {
            return backward_element(i, th, open_above, scale, grad, msb16, lsb16, grad_full, grad_msb, grad_in);
        });
    });
    for (int64_t c = 0; c < channels; ++c) theta_sums[c] = 0.0;
    for (int t = 0; t < slots; ++t)
        for (int64_t c = 0; c < channels; ++c) theta_sums[c] += partial[static_cast<size_t>(t) * stride + c];
}

// The n-bit quantiser over n elements: k = round((clamp(x, -1, 1) + 1) / step) (round half to even,
// as torch.round), y = k step - 1; levels (int8 k) and inside (1[|x| < clip], the straight-through
// estimator's pass-through mask, one byte each) are written where not null.
void fracbnn_quantize(const float *x, float step, float clip, float *y, int8_t *levels, uint8_t *inside, int64_t n,
                      int threads) {
    parallel(n, threads, [=](int, int64_t first, int64_t last) {
        if (levels != nullptr && inside != nullptr) {
            quantize_range<true, true>(x, step, clip, y, levels, inside, first, last);
        } else if (levels != nullptr) {
            quantize_range<true, false>(x, step, clip, y, levels, inside, first, last);
        } else if (inside != nullptr) {
            quantize_range<false, true>(x, step, clip, y, levels, inside, first, last);
        } else {
            quantize_range<false, false>(x, step, clip, y, levels, inside, first, last);
        }
    });
}

// The 2-bit activation x = 2/3 k - 1 and its sign from the int8 levels k (0..3), n elements.
void fracbnn_levels_to_planes(const int8_t *levels, float *x, float *sign, int64_t n, int threads) {
    parallel(n, threads, [=](int, int64_t first, int64_t last) {
#pragma omp simd
        for (int64_t i = first; i < last; ++i) {
            const float v = static_cast<float>(levels[i]) * kMsbScale - 1.0f;
            x[i] = v;
            sign[i] = static_cast<float>(v > 0.0f) - static_cast<float>(v < 0.0f);
        }
    });
}
}
