// libFuzzer target over the public C++ entry points, CPU backend: decode(), can_implement(),
// compute_schedule(), query_num_sm_parts(), decode_workspace_size(), make_view().
//
// The input is read front to back (little-endian; zeros past its end, so every prefix is a valid input
// and tests/fuzz/make_seeds.py can write seeds): a mode byte, a small well-formed problem, then up to 3
// mutations of its views (rank, dtype, one size or stride from a table of edge values, null / misaligned
// / aliased pointers, device). Invariants, each a __builtin_trap() so that libFuzzer saves the input:
//   - no crash, no sanitizer report (ASan + UBSan, see scripts/sanitize.sh);
//   - a rejected call wrote no byte anywhere (outputs hold a canary, inputs are compared to a copy),
//     and can_implement() never writes;
//   - can_implement(args) and decode(args) agree (ok and code);
//   - an accepted decode writes only out / lse, whose elements overlap nothing, and matches a float64
//     reference (computed here through the same views) within testing/compare.h's tolerances;
//   - an accepted compute_schedule() honours the contract of include/flashmla/decode.h and is
//     deterministic.
// Memory: a view only ever claims memory that was allocated for it. A view that would need more than
// kArenaCap bytes gets a null pointer instead: validation must reject a null non-empty tensor before
// reading anything. Every unread cache row and every byte outside the views is NaN / garbage, so a read
// of memory the call does not own shows up as a mismatch even when ASan cannot see it.
#include <flashmla/flashmla.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "compare.h"

using namespace flashmla;

namespace {

constexpr int64_t kArenaCap = int64_t{64} << 20;  // bytes of all views of one input together
constexpr int64_t kWorkBudget = int64_t{1} << 15;  // key rows x query rows a decode may cost
constexpr int64_t kScheduleBudget = int64_t{1} << 20;  // b x num_sm_parts of a schedule
constexpr int32_t kD = 576, kDV = 512, kTile = 64;   // schedule pages are 64-token tiles
constexpr uint8_t kCanary = 0xA5;

// The harness's hot loops (reference, fills, byte comparisons) need no coverage feedback, which would
// make them several times slower.
#define FUZZ_HOT __attribute__((no_sanitize("coverage")))

#define FUZZ_CHECK(cond, ...)                          \
  do {                                                 \
    if (!(cond)) {                                     \
      std::fprintf(stderr, "fuzz_api: " __VA_ARGS__);  \
      std::fprintf(stderr, "\n");                      \
      __builtin_trap();                                \
    }                                                  \
  } while (0)

struct Counters {
  long decode = 0, decode_ok = 0, schedule = 0, schedule_ok = 0, other = 0;
  ~Counters() {
    std::fprintf(stderr, "fuzz_api: calls fuzzed: decode %ld (%ld accepted), compute_schedule %ld (%ld accepted), "
                         "size queries %ld\n", decode, decode_ok, schedule, schedule_ok, other);
  }
} counters;

// FLASHMLA_FUZZ_VERBOSE=1: print every call's status (to see what a seed or a reproducer does).
void trace(const char* call, const Status& st) {
  static const bool on = std::getenv("FLASHMLA_FUZZ_VERBOSE") != nullptr;
  if (on) std::fprintf(stderr, "fuzz_api: %s -> %s\n", call, st.ok() ? "ok" : st.message().c_str());
}

struct Reader {
  const uint8_t* p;
  size_t n;
  uint64_t take(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i, n -= n ? 1 : 0) v |= uint64_t{n ? *p++ : uint8_t{0}} << (8 * i);
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  int64_t i64() { return static_cast<int64_t>(take(8)); }
};

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max(), kI32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max(), kI64Min = std::numeric_limits<int64_t>::min();
const int64_t kEdges[] = {0, 1, -1, 2, 3, 7, 8, 9, 63, 64, 65, 511, 512, 513, 575, 576, 577, 1152, 4096,
                          int64_t{1} << 20, (int64_t{1} << 20) + 1, kI32Max - 63, kI32Max - 62, kI32Max, kI32Min,
                          kI32Min + 1, int64_t{1} << 31, int64_t{1} << 32, int64_t{1} << 40, int64_t{1} << 62,
                          kI64Max, kI64Min, kI64Min + 1, -64, -576};
constexpr int kNumEdges = sizeof(kEdges) / sizeof(kEdges[0]);

// An edge value, a small number, or raw bits.
int64_t edge_value(Reader& r) {
  const uint8_t s = r.u8();
  if (s < kNumEdges) return kEdges[s];
  if (s < 240) return static_cast<int64_t>(s % 32) - 8;
  return r.i64();
}

float scale_value(Reader& r) {
  const float table[] = {0.0f, NAN, INFINITY, -INFINITY, 1e38f, static_cast<float>(1e-50), -1.0f, 1e-40f,
                         0.5f, std::numeric_limits<float>::max(), 1.0f / 24.0f, -0.0f, 1e4f, 1e5f, 2.0f};
  const uint8_t s = r.u8();
  if (s < sizeof(table) / sizeof(table[0])) return table[s];
  if (s < 128) return 0.0f;
  const uint32_t bits = r.u32();
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint64_t lcg(uint64_t& s) {
  s = s * 6364136223846793005ull + 1442695040888963407ull;
  return s >> 33;
}

// bf16 / fp16 bits -> float, written out here so that the reference shares no code with the library.
FUZZ_HOT float half_value(uint16_t h, DType t) {
  if (t == DType::kBF16) {
    const uint32_t u = uint32_t{h} << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  const int e = (h >> 10) & 31, m = h & 1023;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (e == 31) return m ? NAN : sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(e ? m + 1024 : m), (e ? e : 1) - 25);
}

// Bits of j / 64, j in [-64, 64): exact in both types, so that every dot product of q and k is exact in
// float64 whatever the summation order (the reference and the library then see identical scores).
struct ValueTable {
  uint16_t bits[2][128];
  uint16_t nan[2];
  FUZZ_HOT ValueTable() {
    for (int t = 0; t < 2; ++t) {
      const DType dt = t ? DType::kFP16 : DType::kBF16;
      for (uint32_t b = 0; b < 65536; ++b) {
        const float f = half_value(static_cast<uint16_t>(b), dt);
        if (std::isnan(f)) nan[t] = static_cast<uint16_t>(b);
        const float j = f * 64.0f;
        if (j >= -64 && j < 64 && j == std::floor(j) && !(f == 0 && std::signbit(f)))
          bits[t][static_cast<int>(j) + 64] = static_cast<uint16_t>(b);
      }
    }
  }
};
const ValueTable& values() {
  static const ValueTable t;
  return t;
}

// ---- tensors and the memory behind them ---------------------------------------------------------

enum Tensor { Q, K, BT, SL, MD, NS, OUT, LSE, kNumTensors };
enum PtrMode { kOwn, kNull, kMisaligned, kAlias };

struct Slot {
  TensorView v;
  bool output = false;
  PtrMode mode = kOwn;
  int misalign = 0;
  int alias_of = -1;
  int64_t alias_delta = 0;  // bytes from the aliased tensor's data pointer
  int arena = -1;
  int64_t origin = 0;       // byte offset of v.data inside its arena
};

struct Arena {
  uint8_t* base = nullptr;  // 64-byte aligned, freed by ~Problem
  int64_t size = 0;
  std::vector<uint8_t> snapshot;
};

size_t elem_size(DType t) {
  const size_t s = dtype_size(t);
  return s ? s : 8;  // unknown dtypes: assume the widest, so that a missed check cannot read past a buffer
}

// Byte range [lo, hi) reachable through a view, relative to its data pointer (empty tensors: none).
// kInvalid: a view that claims no memory at all (bad rank, negative size), which every entry point
// must reject; kTooBig: more than kArenaCap bytes.
enum Reach { kFits, kInvalid, kTooBig };
Reach reach(const TensorView& v, int64_t* lo, int64_t* hi) {
  *lo = *hi = 0;
  if (v.rank < 0 || v.rank > kMaxRank) return kInvalid;
  __int128 l = 0, h = 0;  // each term is saturated at 2^100, so that five of them cannot overflow
  bool empty = false;
  for (int i = 0; i < v.rank; ++i) {
    if (v.shape[i] < 0) return kInvalid;
    empty |= v.shape[i] == 0;
    const __int128 off = static_cast<__int128>(v.shape[i] - 1) * v.stride[i], sat = static_cast<__int128>(1) << 100;
    (off < 0 ? l : h) += std::clamp(off, -sat, sat);
  }
  if (empty) return kFits;
  const __int128 es = static_cast<__int128>(elem_size(v.dtype));
  if ((h + 1 - l) * es > kArenaCap) return kTooBig;
  *lo = static_cast<int64_t>(l * es);
  *hi = static_cast<int64_t>((h + 1) * es);
  return kFits;
}
bool fits(const TensorView& v) {
  int64_t lo, hi;
  return reach(v, &lo, &hi) == kFits;
}

// Calls fn(element pointer, flat index) for every element of a view that fits in memory, unless it has
// more than kArenaCap elements (zero strides): nothing the harness needs to walk is that large.
template <class Fn>
FUZZ_HOT void for_each_element(const TensorView& v, Fn&& fn) {
  int64_t lo, hi;
  if (v.data == nullptr || reach(v, &lo, &hi) != kFits || hi == lo) return;
  for (int64_t i = 0, numel = 1; i < v.rank; ++i)
    if ((numel *= std::min(v.shape[i], kArenaCap + 1)) > kArenaCap) return;
  int64_t idx[kMaxRank] = {};
  const int64_t es = static_cast<int64_t>(elem_size(v.dtype));
  for (int64_t flat = 0;; ++flat) {
    int64_t off = 0;
    for (int i = 0; i < v.rank; ++i) off += idx[i] * v.stride[i];
    fn(static_cast<uint8_t*>(v.data) + off * es, flat);
    int d = v.rank - 1;
    while (d >= 0 && ++idx[d] == v.shape[d]) idx[d--] = 0;
    if (d < 0) return;
  }
}

template <class T>
FUZZ_HOT T load(const TensorView& v, std::initializer_list<int64_t> index) {
  int64_t off = 0, i = 0;
  for (int64_t x : index) off += x * v.stride[i++];
  T t;
  std::memcpy(&t, static_cast<const uint8_t*>(v.data) + off * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return t;
}

struct Problem {
  Slot t[kNumTensors];
  std::vector<Arena> arenas;

  Problem() = default;
  Problem(const Problem&) = delete;  // owns the arenas
  Problem& operator=(const Problem&) = delete;

  // Places every view in memory: own arenas, aliases inside the aliased tensor's arena, nulls.
  void materialize() {
    int64_t lo[kNumTensors], hi[kNumTensors], total = 0;
    Reach how[kNumTensors];
    for (int i = 0; i < kNumTensors; ++i) {
      how[i] = reach(t[i].v, &lo[i], &hi[i]);
      if (how[i] == kInvalid) lo[i] = 0, hi[i] = 64;  // any small buffer: the call must fail
    }
    int64_t alo[kNumTensors], ahi[kNumTensors];  // arena range relative to the owner's data pointer
    std::copy(lo, lo + kNumTensors, alo);
    std::copy(hi, hi + kNumTensors, ahi);
    for (int i = 0; i < kNumTensors; ++i) {
      Slot& s = t[i];
      if (s.mode != kAlias) continue;
      const int o = s.alias_of;
      const bool ok = o != i && t[o].mode != kAlias && t[o].mode != kNull && how[o] != kTooBig &&
                      how[i] != kTooBig &&
                      std::max(ahi[o], s.alias_delta + hi[i]) - std::min(alo[o], s.alias_delta + lo[i]) <= kArenaCap;
      if (!ok) {
        s.mode = kOwn;
        continue;
      }
      alo[o] = std::min(alo[o], s.alias_delta + lo[i]);
      ahi[o] = std::max(ahi[o], s.alias_delta + hi[i]);
    }
    for (int i = 0; i < kNumTensors; ++i) {
      Slot& s = t[i];
      if (s.mode == kAlias) continue;
      // An undefined tensor stays undefined; a view larger than the cap gets null, which must fail.
      if (s.mode == kNull || (s.mode == kOwn && !s.v.defined()) || how[i] == kTooBig ||
          total + ahi[i] - alo[i] > kArenaCap) {
        s.v.data = nullptr;
        s.mode = kNull;
        continue;
      }
      Arena a;
      a.size = std::max<int64_t>(ahi[i] - alo[i] + s.misalign, 16);
      total += a.size;
      a.base = static_cast<uint8_t*>(::operator new(static_cast<size_t>(a.size), std::align_val_t{64}));
      s.arena = static_cast<int>(arenas.size());
      s.origin = s.misalign - alo[i];
      s.v.data = a.base + s.origin;
      arenas.push_back(std::move(a));
    }
    for (int i = 0; i < kNumTensors; ++i) {
      Slot& s = t[i];
      if (s.mode != kAlias) continue;
      const Slot& o = t[s.alias_of];
      if (o.arena < 0) {  // the aliased tensor got no memory after all
        s.mode = kNull;
        s.v.data = nullptr;
        continue;
      }
      s.arena = o.arena;
      s.origin = o.origin + s.alias_delta;
      s.v.data = arenas[s.arena].base + s.origin;
    }
  }
  ~Problem() {
    for (Arena& a : arenas) ::operator delete(a.base, std::align_val_t{64});
  }

  void take_snapshot() {
    for (Arena& a : arenas) a.snapshot.assign(a.base, a.base + a.size);
  }
  bool unchanged() const {
    for (const Arena& a : arenas)
      if (std::memcmp(a.base, a.snapshot.data(), static_cast<size_t>(a.size)) != 0) return false;
    return true;
  }
};

// a + b and -a without undefined behaviour (edge values include INT64_MIN and INT64_MAX).
int64_t wrap_add(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); }
int64_t wrap_neg(int64_t a) { return static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(a)); }

// One mutation of the views, decoded from the input.
void mutate(Reader& r, Problem& p, int num_targets, const Tensor* targets) {
  Slot& s = p.t[targets[r.u8() % num_targets]];
  TensorView& v = s.v;
  const int d = r.u8() % kMaxRank;
  switch (r.u8() % 11) {
    case 0: v.rank = static_cast<int32_t>(edge_value(r)); break;
    case 1: v.dtype = static_cast<DType>(static_cast<int32_t>(edge_value(r))); break;
    case 2: v.shape[d] = edge_value(r); break;
    case 3: v.stride[d] = edge_value(r); break;
    case 4: v.shape[d] = wrap_add(v.shape[d], r.u8() % 5 - 2); break;
    case 5: v.stride[d] = (r.u8() & 1) ? wrap_neg(v.stride[d]) : wrap_add(v.stride[d], r.u8() % 7 - 3); break;
    case 6: s.mode = kNull; break;
    case 7:
      s.mode = kMisaligned;
      s.misalign = 1 + r.u8() % 3;
      break;
    case 8:
      s.mode = kAlias;
      s.alias_of = targets[r.u8() % num_targets];
      s.alias_delta = 4 * static_cast<int64_t>(static_cast<int8_t>(r.u8()));
      break;
    case 9:
      v.device = static_cast<DeviceType>(static_cast<int32_t>(edge_value(r)) & 3);
      v.device_index = static_cast<int32_t>(edge_value(r));
      break;
    default: v = TensorView{}; break;  // undefined tensor
  }
}

void read_mutations(Reader& r, Problem& p, int num_targets, const Tensor* targets) {
  for (int m = r.u8() % 4; m > 0; --m) mutate(r, p, num_targets, targets);
}

// Row-major strides; rows (the second-to-last dimension) padded by `pad` elements.
TensorView view(DType dt, std::initializer_list<int64_t> shape, int64_t pad) {
  TensorView v = make_view(nullptr, dt, shape);
  for (int i = v.rank - 2; i >= 0; --i) v.stride[i] = v.stride[i + 1] * v.shape[i + 1] + pad * (i == v.rank - 2);
  return v;
}

bool is(const Slot& s, int rank, DType dt) { return s.v.data && s.v.rank == rank && s.v.dtype == dt; }

// After an accepted call: the elements of `outputs` overlap neither each other nor any input's reach,
// and no byte outside them changed.
FUZZ_HOT void check_only_outputs_written(const Problem& p, std::initializer_list<int> outputs, const char* call) {
  std::vector<std::vector<uint8_t>> written(p.arenas.size());
  for (size_t i = 0; i < p.arenas.size(); ++i) written[i].assign(static_cast<size_t>(p.arenas[i].size), 0);
  for (int o : outputs) {
    FUZZ_CHECK(p.t[o].arena >= 0, "accepted %s with output %d outside its memory", call, o);
    std::vector<uint8_t>& w = written[p.t[o].arena];
    const uint8_t* base = p.arenas[p.t[o].arena].base;
    const size_t es = elem_size(p.t[o].v.dtype);
    for_each_element(p.t[o].v, [&](uint8_t* e, int64_t) {
      for (size_t j = 0; j < es; ++j) {
        FUZZ_CHECK(!w[e - base + j], "accepted %s whose outputs overlap (an element written twice)", call);
        w[e - base + j] = 1;
      }
    });
  }
  for (int i = 0; i < kNumTensors; ++i) {
    const Slot& s = p.t[i];
    int64_t lo, hi;
    if (s.output || s.arena < 0 || reach(s.v, &lo, &hi) != kFits) continue;
    for (int64_t j = s.origin + lo; j < s.origin + hi; ++j)
      FUZZ_CHECK(!written[s.arena][j], "accepted %s whose outputs overlap input %d", call, i);
  }
  for (size_t a = 0; a < p.arenas.size(); ++a)
    for (int64_t j = 0; j < p.arenas[a].size; ++j)
      if (p.arenas[a].base[j] != p.arenas[a].snapshot[j])
        FUZZ_CHECK(written[a][j] || p.arenas[a].base[j] == p.arenas[a].snapshot[j],
                 "accepted %s changed a byte outside its outputs (arena %zu, byte %lld)", call, a,
                 static_cast<long long>(j));
}

// ---- decode -------------------------------------------------------------------------------------

struct DecodeCase {
  Problem p;
  DecodeArgs args;
  std::vector<int32_t> lens, table;  // the designed values of cache_seqlens and block_table
  int32_t max_blocks = 0;
  uint64_t seed = 0;
};

void build_decode(Reader& r, DecodeCase& c) {
  const int64_t b = 1 + r.u8() % 4, s_q = 1 + r.u8() % 3, h_kv = 1 + r.u8() % 2, h_q = h_kv * (1 + r.u8() % 3);
  const uint8_t flags = r.u8();
  const DType dt = (flags & 2) ? DType::kFP16 : DType::kBF16;
  const int64_t pad = (flags & 4) ? 8 * (1 + r.u8() % 4) : 0;
  const int64_t num_blocks = 1 + r.u8() % 6;
  c.max_blocks = r.u8() % 5;
  for (int64_t i = 0; i < b; ++i) {
    const uint8_t kind = r.u8();
    c.lens.push_back(kind < 224 ? static_cast<int32_t>(r.u16() % 260) : static_cast<int32_t>(edge_value(r)));
  }
  for (int64_t i = 0; i < b * c.max_blocks; ++i) {
    const uint8_t id = r.u8();
    const int32_t garbage[] = {-1, static_cast<int32_t>(num_blocks), INT32_MIN, INT32_MAX, 12345};
    c.table.push_back(id < 235 ? static_cast<int32_t>(id % num_blocks) : garbage[id % 5]);
  }
  c.args.softmax_scale = scale_value(r);
  const uint8_t dv = r.u8();
  const int32_t dvs[] = {0, -1, 576, 577, 511, 64, INT32_MIN, INT32_MAX};
  c.args.head_dim_v = dv < 8 ? dvs[dv] : kDV;
  c.args.causal = flags & 1;
  c.args.debug_checks = flags & 8;
  c.seed = r.u32();

  Slot* t = c.p.t;
  t[Q].v = view(dt, {b, s_q, h_q, kD}, pad);
  t[K].v = view(dt, {num_blocks, 64, h_kv, kD}, pad);
  t[BT].v = view(DType::kInt32, {b, c.max_blocks}, (flags & 4) ? 3 : 0);
  t[SL].v = view(DType::kInt32, {b}, 0);
  if (flags & 16) {  // the CPU backend ignores a schedule but validates it
    t[MD].v = view(DType::kInt32, {1 + r.u8() % 8, kScheduleRecordInts}, 0);
    t[NS].v = view(DType::kInt32, {b + 1}, 0);
  }
  t[OUT].v = view(dt, {b, s_q, h_q, kDV}, pad);
  t[LSE].v = view(DType::kFP32, {b, h_q, s_q}, 0);
  if (flags & 32) t[LSE].v.stride[1] = 1, t[LSE].v.stride[2] = h_q;  // [b, s_q, h_q] in memory
  t[OUT].output = t[LSE].output = true;
  const Tensor all[] = {Q, K, BT, SL, MD, NS, OUT, LSE};
  read_mutations(r, c.p, kNumTensors, all);
  c.p.materialize();
}

// What an accepted call would cost, from the views as they are (0 when they cannot describe a valid
// call): key rows x query rows (the reference's work) and cache elements the fill below writes.
struct Work {
  __int128 ref = 0, fill = 0;
  bool small() const { return ref <= kWorkBudget && fill <= kWorkBudget * 2 * kD; }
};
Work decode_work(const DecodeCase& c) {
  const Slot* t = c.p.t;
  Work w;
  if (!is(t[Q], 4, t[Q].v.dtype) || !is(t[SL], 1, DType::kInt32) || t[BT].v.rank != 2 || t[K].v.rank != 4 ||
      !fits(t[SL].v) || !fits(t[Q].v))
    return w;
  const TensorView &q = t[Q].v, &k = t[K].v;
  auto mul = [](int64_t a, int64_t b) {  // saturated at 2^62: sizes of zero-stride views can be anything
    const __int128 m = static_cast<__int128>(std::max<int64_t>(a, 0)) * std::max<int64_t>(b, 0);
    return std::min<__int128>(m, int64_t{1} << 62);
  };
  const __int128 rows = std::max<__int128>(mul(q.shape[1], q.shape[2]), 1);
  const __int128 row_elems = std::max<__int128>(mul(k.shape[2], k.shape[3]), 1);
  const __int128 max_keys = mul(t[BT].v.shape[1], k.shape[1]);
  const int64_t n = std::min(t[SL].v.shape[0], q.shape[0]);
  for (int64_t i = 0; i < n && w.small(); ++i) {
    if (i > (int64_t{1} << 21)) w.ref = kWorkBudget + 1;  // far beyond any batch validation accepts
    const __int128 keys = std::min<__int128>(std::max<int32_t>(load<int32_t>(t[SL].v, {i}), 0), max_keys);
    w.ref += keys * rows;
    w.fill += keys * row_elems;
  }
  return w;
}

// Fills memory, first part: NaN / garbage everywhere, the canary in outputs, the designed values of
// cache_seqlens and block_table.
FUZZ_HOT void fill_indices(DecodeCase& c) {
  Problem& p = c.p;
  uint64_t s = c.seed;
  for (int i = 0; i < kNumTensors; ++i) {
    const Slot& sl = p.t[i];
    if (sl.mode == kAlias || sl.arena < 0) continue;
    Arena& a = p.arenas[sl.arena];
    if (sl.output || i == MD || i == NS) {
      std::memset(a.base, kCanary, static_cast<size_t>(a.size));
    } else if (i == Q || i == K) {
      const uint16_t nan = values().nan[sl.v.dtype == DType::kFP16];
      for (int64_t j = 0; j + 1 < a.size; j += 2) std::memcpy(a.base + j, &nan, 2);
    } else {
      for (int64_t j = 0; j < a.size; ++j) a.base[j] = static_cast<uint8_t>(lcg(s));
    }
  }
  const Slot* t = p.t;
  if (is(t[SL], 1, DType::kInt32))
    for_each_element(t[SL].v, [&](uint8_t* e, int64_t i) {
      const int32_t v = i < static_cast<int64_t>(c.lens.size()) ? c.lens[i] : static_cast<int32_t>(lcg(s) % 300);
      std::memcpy(e, &v, 4);
    });
  const int64_t nb = t[K].v.rank == 4 ? std::max<int64_t>(t[K].v.shape[0], 1) : 1;
  if (is(t[BT], 2, DType::kInt32))
    for_each_element(t[BT].v, [&](uint8_t* e, int64_t flat) {
      const int64_t i = flat / t[BT].v.shape[1], j = flat % t[BT].v.shape[1];
      const int32_t v = (i < static_cast<int64_t>(c.lens.size()) && j < c.max_blocks)
                            ? c.table[i * c.max_blocks + j]
                            : static_cast<int32_t>(lcg(s) % 16 ? lcg(s) % nb : lcg(s));
      std::memcpy(e, &v, 4);
    });
}

// Second part: finite values in q and, when `fill_cache`, in the cache rows below each length (found
// through the block table as it is in memory).
FUZZ_HOT void fill_values(DecodeCase& c, bool fill_cache) {
  const Slot* t = c.p.t;
  uint64_t s = c.seed ^ 0x9e3779b97f4a7c15ull;
  const DType dt = t[Q].v.dtype;
  if ((dt != DType::kBF16 && dt != DType::kFP16) || !is(t[Q], 4, dt)) return;
  const uint16_t* vals = values().bits[dt == DType::kFP16];
  for_each_element(t[Q].v, [&](uint8_t* e, int64_t) { std::memcpy(e, &vals[lcg(s) % 128], 2); });
  // The cache rows below each length, through the block table (only when the views are readable).
  const TensorView &k = t[K].v, &bt = t[BT].v, &sv = t[SL].v;
  if (!fill_cache || !is(t[K], 4, dt) || !is(t[BT], 2, DType::kInt32) || !is(t[SL], 1, DType::kInt32) ||
      !fits(k) || !fits(bt) || !fits(sv))
    return;
  const int64_t page = k.shape[1];
  if (page < 1) return;
  for (int64_t i = 0; i < std::min({sv.shape[0], bt.shape[0], t[Q].v.shape[0]}); ++i) {  // as decode_work
    const int64_t len = std::min<int64_t>(load<int32_t>(sv, {i}), bt.shape[1] * page);
    for (int64_t tok = 0; tok < len; ++tok) {
      const int64_t id = load<int32_t>(bt, {i, tok / page});
      if (id < 0 || id >= k.shape[0]) continue;
      for (int64_t g = 0; g < k.shape[2]; ++g)
        for (int64_t ch = 0; ch < k.shape[3]; ++ch) {
          uint8_t* e = static_cast<uint8_t*>(k.data) +
                       2 * (id * k.stride[0] + (tok % page) * k.stride[1] + g * k.stride[2] + ch * k.stride[3]);
          std::memcpy(e, &vals[lcg(s) % 128], 2);
        }
    }
  }
}

// The float64 reference of request i, appended in [s_q, h_q, 512] / [s_q, h_q] order: its keys gathered
// once, then a plain two-pass softmax per (token, head).
FUZZ_HOT void reference_request(const DecodeCase& c, int64_t i, std::vector<float>& ref_out, std::vector<float>& ref_lse) {
  const TensorView &q = c.p.t[Q].v, &k = c.p.t[K].v, &bt = c.p.t[BT].v, &sv = c.p.t[SL].v;
  const int64_t s_q = q.shape[1], h_q = q.shape[2], page = k.shape[1], h_kv = k.shape[2];
  const DType dt = q.dtype;
  const float sc = c.args.softmax_scale;
  const double scale = (sc > 0 && std::isfinite(sc)) ? sc : static_cast<float>(1.0 / std::sqrt(576.0));
  const int64_t len = load<int32_t>(sv, {i});
  FUZZ_CHECK(len >= 0 && (len + page - 1) / page <= bt.shape[1], "accepted decode with cache_seqlens[%lld] = %lld",
             static_cast<long long>(i), static_cast<long long>(len));
  std::vector<double> keys(static_cast<size_t>(len * h_kv * kD)), qrow(kD), score(static_cast<size_t>(len)), acc(kDV);
  for (int64_t tok = 0; tok < len; ++tok) {
    const int64_t id = load<int32_t>(bt, {i, tok / page});
    FUZZ_CHECK(id >= 0 && id < k.shape[0], "accepted decode with page id %lld", static_cast<long long>(id));
    for (int64_t g = 0; g < h_kv; ++g)
      for (int64_t ch = 0; ch < kD; ++ch)
        keys[(tok * h_kv + g) * kD + ch] = half_value(load<uint16_t>(k, {id, tok % page, g, ch}), dt);
  }
  for (int64_t j = 0; j < s_q; ++j) {
    const int64_t visible = std::max<int64_t>(0, c.args.causal ? len - (s_q - 1 - j) : len);
    for (int64_t h = 0; h < h_q; ++h) {
      const int64_t g = h / (h_q / h_kv);
      for (int64_t ch = 0; ch < kD; ++ch) qrow[ch] = half_value(load<uint16_t>(q, {i, j, h, ch}), dt);
      double m = -INFINITY, sum = 0.0;
      for (int64_t tok = 0; tok < visible; ++tok) {
        const double* key = &keys[(tok * h_kv + g) * kD];
        double dot = 0;
        for (int64_t ch = 0; ch < kD; ++ch) dot += qrow[ch] * key[ch];
        score[tok] = dot * scale;
        m = score[tok] > m ? score[tok] : m;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t tok = 0; tok < visible; ++tok) {
        const double w = std::exp(score[tok] - m);
        const double* key = &keys[(tok * h_kv + g) * kD];
        sum += w;
        for (int64_t ch = 0; ch < kDV; ++ch) acc[ch] += w * key[ch];
      }
      for (int64_t ch = 0; ch < kDV; ++ch) ref_out.push_back(visible ? static_cast<float>(acc[ch] / sum) : 0.0f);
      ref_lse.push_back(visible ? static_cast<float>(m + std::log(sum)) : INFINITY);
    }
  }
}

// After an accepted decode: the views are what the reference needs, only out / lse changed, and they
// match a float64 two-pass softmax per (request, token, head) read through the same views.
FUZZ_HOT void check_accepted_decode(DecodeCase& c) {
  const Problem& p = c.p;
  const TensorView &q = p.t[Q].v, &k = p.t[K].v, &bt = p.t[BT].v, &sv = p.t[SL].v;
  const TensorView &out = p.t[OUT].v, &lse = p.t[LSE].v;
  const int64_t b = q.shape[0], s_q = q.shape[1], h_q = q.shape[2], page = k.shape[1];
  const DType dt = q.dtype;
  FUZZ_CHECK(q.rank == 4 && k.rank == 4 && bt.rank == 2 && sv.rank == 1 && out.rank == 4 && lse.rank == 3 &&
                 (dt == DType::kBF16 || dt == DType::kFP16) && k.dtype == dt && out.dtype == dt &&
                 lse.dtype == DType::kFP32 && bt.dtype == DType::kInt32 && sv.dtype == DType::kInt32 &&
                 q.shape[3] == kD && k.shape[3] == kD && page >= 1 && k.shape[2] >= 1 && h_q % k.shape[2] == 0 &&
                 bt.shape[0] == b && sv.shape[0] == b && out.shape[0] == b && out.shape[1] == s_q &&
                 out.shape[2] == h_q && out.shape[3] == kDV && lse.shape[0] == b && lse.shape[1] == h_q &&
                 lse.shape[2] == s_q && c.args.head_dim_v == kDV,
             "accepted decode with malformed views");
  check_only_outputs_written(p, {OUT, LSE}, "decode");

  std::vector<float> got_out, ref_out, got_lse, ref_lse;
  for (int64_t i = 0; i < b; ++i) reference_request(c, i, ref_out, ref_lse);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < s_q; ++j)
      for (int64_t h = 0; h < h_q; ++h) {
        for (int64_t ch = 0; ch < kDV; ++ch) got_out.push_back(half_value(load<uint16_t>(out, {i, j, h, ch}), dt));
        got_lse.push_back(load<float>(lse, {i, h, j}));
      }
  const auto ro = test::compare_float(got_out.data(), ref_out.data(), got_out.size(), test::kOutTolerance, {}, "out");
  FUZZ_CHECK(ro.ok, "accepted decode: out differs from the reference: %s", ro.message.c_str());
  const auto rl = test::compare_float(got_lse.data(), ref_lse.data(), got_lse.size(), test::kLseTolerance, {}, "lse");
  FUZZ_CHECK(rl.ok, "accepted decode: lse differs from the reference: %s", rl.message.c_str());
}

void fuzz_decode(Reader& r) {
  DecodeCase c;
  build_decode(r, c);
  // Too costly to run (or to check): only validation is compared, which reads at most the block table.
  fill_indices(c);
  const bool small = decode_work(c).small();
  fill_values(c, small);
  DecodeArgs& a = c.args;
  a.q = c.p.t[Q].v, a.k_cache = c.p.t[K].v, a.block_table = c.p.t[BT].v, a.cache_seqlens = c.p.t[SL].v;
  a.tile_scheduler_metadata = c.p.t[MD].v, a.num_splits = c.p.t[NS].v, a.out = c.p.t[OUT].v, a.lse = c.p.t[LSE].v;
  c.p.take_snapshot();
  const Status ci = can_implement(a);
  trace("can_implement", ci);
  FUZZ_CHECK(c.p.unchanged(), "can_implement wrote memory");
  if (!small && ci.ok()) return;
  const Status st = decode(a);
  ++counters.decode;
  trace("decode", st);
  FUZZ_CHECK(ci.ok() == st.ok() && ci.code() == st.code(), "can_implement (%d: %s) and decode (%d: %s) disagree",
             static_cast<int>(ci.code()), ci.message().c_str(), static_cast<int>(st.code()), st.message().c_str());
  if (!st.ok()) {
    FUZZ_CHECK(c.p.unchanged(), "rejected decode wrote memory (%s)", st.message().c_str());
    return;
  }
  ++counters.decode_ok;
  check_accepted_decode(c);
}

// ---- compute_schedule -----------------------------------------------------------------------------

// The contract of an accepted schedule (include/flashmla/decode.h): nullptr or the first violation.
const char* schedule_violation(const std::vector<int32_t>& lens, int64_t parts, const int32_t* md, const int32_t* ns) {
  const int64_t b = static_cast<int64_t>(lens.size());
  auto pages = [&](int64_t i) -> int64_t { return lens[i] <= 0 ? 0 : (int64_t{lens[i]} + kTile - 1) / kTile; };
  bool negative = false;
  for (int32_t l : lens) negative |= l < 0;
  if (ns[0] != 0) return "num_splits[0] != 0";
  for (int64_t i = 0; i < b; ++i)
    if (ns[i + 1] < ns[i]) return "num_splits decreases";
  if (ns[b] > b + parts - 1) return "more splits than b + num_sm_parts - 1";
  // Walk the chunks of all records in order: they must cover (request, page) in order, each page once,
  // an empty request by exactly one empty chunk, chunk k of request i in slot num_splits[i] + k.
  int64_t req = 0, next_page = 0, chunks = 0;
  auto complete = [&] { return next_page == pages(req) && chunks >= 1 && chunks == ns[req + 1] - ns[req]; };
  for (int64_t p = 0; p < parts; ++p) {
    const int32_t* rec = md + p * kScheduleRecordInts;
    if (rec[6] != 0) return "reserved field != 0";
    if (rec[7] != ((p == 0 && negative) ? 1 : 0)) return "wrong status field";
    if (rec[0] > rec[2]) continue;
    if (rec[0] < 0 || rec[2] >= b) return "request outside the batch";
    for (int64_t i = rec[0]; i <= rec[2]; ++i) {
      const int64_t first = i == rec[0] ? rec[1] : 0, last = i == rec[2] ? rec[3] : pages(i);
      const int64_t slot = i == rec[0] ? rec[4] : ns[i];
      if (i != req) {
        if (i != req + 1 || !complete()) return "a request skipped or left incomplete";
        req = i, next_page = 0, chunks = 0;
      }
      if (first != next_page || last < first || last > pages(i)) return "pages not covered exactly once, in order";
      if (last == first && (pages(i) != 0 || chunks != 0)) return "an empty chunk";
      if (slot != ns[i] + chunks) return "wrong split slot";
      next_page = last;
      ++chunks;
    }
  }
  if (req != b - 1 || !complete()) return "not every request is covered";
  return nullptr;
}

void fuzz_schedule(Reader& r) {
  Problem p;
  const int64_t b = 1 + r.u8() % 64;
  std::vector<int32_t> lens;
  for (int64_t i = 0; i < b; ++i) {
    const uint8_t kind = r.u8();
    lens.push_back(kind < 200 ? static_cast<int32_t>(r.u16() % 2000) : static_cast<int32_t>(edge_value(r)));
  }
  ScheduleArgs a;
  const uint8_t flags = r.u8();
  const int32_t h_kv = 1 + (flags & 1), s_q = 1 + (flags >> 1) % 4, hpk = 1 + r.u8() % 128;
  a.num_q_rows_per_head_k = s_q * hpk, a.num_heads_k = h_kv, a.s_q = (flags & 8) ? 0 : s_q;
  if (flags & 16) a.num_q_rows_per_head_k = static_cast<int32_t>(edge_value(r));
  if (flags & 32) a.num_heads_k = static_cast<int32_t>(edge_value(r));
  if (flags & 64) a.s_q = static_cast<int32_t>(edge_value(r));
  int32_t parts = 0;
  if (!query_num_sm_parts(DeviceType::kCPU, 0, s_q * hpk, h_kv, s_q, &parts).ok()) parts = 1;
  if (flags & 128) parts = 1 + r.u8();
  p.t[SL].v = make_view(nullptr, DType::kInt32, {b});
  p.t[MD].v = make_view(nullptr, DType::kInt32, {parts, kScheduleRecordInts});
  p.t[NS].v = make_view(nullptr, DType::kInt32, {b + 1});
  p.t[MD].output = p.t[NS].output = true;
  const Tensor targets[] = {SL, MD, NS};
  read_mutations(r, p, 3, targets);
  a.num_sm_parts = (r.u8() == 255) ? static_cast<int32_t>(edge_value(r)) : static_cast<int32_t>(p.t[MD].v.shape[0]);
  // The CPU scheduler is O(b x num_sm_parts): beyond the budget, null metadata (which must fail).
  if (p.t[SL].v.rank == 1 && p.t[MD].v.rank == 2 &&
      static_cast<__int128>(p.t[SL].v.shape[0]) * p.t[MD].v.shape[0] > kScheduleBudget)
    p.t[MD].mode = kNull;
  p.materialize();
  uint64_t seed = b;
  for (int i : {SL, MD, NS}) {
    const Slot& s = p.t[i];
    if (s.mode == kAlias || s.arena < 0) continue;
    std::memset(p.arenas[s.arena].base, i == SL ? 0x7f : kCanary, static_cast<size_t>(p.arenas[s.arena].size));
  }
  if (is(p.t[SL], 1, DType::kInt32))
    for_each_element(p.t[SL].v, [&](uint8_t* e, int64_t i) {
      const int32_t v = i < b ? lens[i] : static_cast<int32_t>(lcg(seed) % 5000);
      std::memcpy(e, &v, 4);
    });
  a.cache_seqlens = p.t[SL].v, a.tile_scheduler_metadata = p.t[MD].v, a.num_splits = p.t[NS].v;
  p.take_snapshot();
  const Status st = compute_schedule(a);
  ++counters.schedule;
  trace("compute_schedule", st);
  if (!st.ok()) {
    FUZZ_CHECK(p.unchanged(), "rejected compute_schedule wrote memory (%s)", st.message().c_str());
    return;
  }
  ++counters.schedule_ok;
  const TensorView &sv = a.cache_seqlens, &mv = a.tile_scheduler_metadata, &nv = a.num_splits;
  const int64_t nb = sv.shape[0], np = mv.shape[0];
  auto contiguous_i32 = [](const TensorView& v) {
    int64_t expect = 1;
    for (int i = v.rank - 1; i >= 0; expect *= v.shape[i--])
      if (v.shape[i] > 1 && v.stride[i] != expect) return false;
    return v.dtype == DType::kInt32 && v.data != nullptr;
  };
  FUZZ_CHECK(sv.rank == 1 && mv.rank == 2 && nv.rank == 1 && nb >= 1 && nv.shape[0] == nb + 1 && np >= 1 &&
                 np == a.num_sm_parts && mv.shape[1] == kScheduleRecordInts && contiguous_i32(sv) &&
                 contiguous_i32(mv) && contiguous_i32(nv),
             "accepted compute_schedule with malformed views");
  check_only_outputs_written(p, {MD, NS}, "compute_schedule");
  const auto* sl = static_cast<const int32_t*>(sv.data);
  const auto* md = static_cast<const int32_t*>(mv.data);
  const auto* ns = static_cast<const int32_t*>(nv.data);
  const char* why = schedule_violation(std::vector<int32_t>(sl, sl + nb), np, md, ns);
  FUZZ_CHECK(!why, "accepted compute_schedule broke its contract: %s", why);
  const std::vector<int32_t> md1(md, md + np * kScheduleRecordInts), ns1(ns, ns + nb + 1);
  FUZZ_CHECK(compute_schedule(a).ok(), "compute_schedule failed on a repeat");
  FUZZ_CHECK(std::equal(md1.begin(), md1.end(), md) && std::equal(ns1.begin(), ns1.end(), ns),
             "compute_schedule is not deterministic");
}

// ---- the scalar queries ---------------------------------------------------------------------------

void fuzz_queries(Reader& r) {
  ++counters.other;
  const auto dev = static_cast<DeviceType>(static_cast<int32_t>(edge_value(r)) & 3);
  const auto idx = static_cast<int32_t>(edge_value(r)), rows = static_cast<int32_t>(edge_value(r));
  const auto hk = static_cast<int32_t>(edge_value(r)), sq = static_cast<int32_t>(edge_value(r));
  int32_t parts = -12345;
  const Status st = query_num_sm_parts(dev, idx, rows, hk, sq, &parts);
  if (st.ok()) {
    FUZZ_CHECK(dev == DeviceType::kCPU && parts >= 1 && parts <= 132, "query_num_sm_parts gave %d", parts);
  } else {
    FUZZ_CHECK(parts == -12345, "a failed query_num_sm_parts wrote its output");
  }
  FUZZ_CHECK(!query_num_sm_parts(dev, idx, rows, hk, sq, nullptr).ok(), "query_num_sm_parts accepted a null output");
  const auto w = [&] { return static_cast<int32_t>(edge_value(r)); };
  const int32_t wb = w(), ws = w(), wh = w(), wd = w(), wp = w();
  const size_t bytes = decode_workspace_size(wb, ws, wh, wd, wp);
  if (wb < 0 || ws < 0 || wh < 0 || wd < 0 || wp < 0) FUZZ_CHECK(bytes == 0, "negative workspace arguments gave %zu", bytes);
  // make_view() and numel() on any sizes (six: one more than kMaxRank): no overflow, positive strides.
  const TensorView v = make_view(nullptr, DType::kBF16, {edge_value(r), edge_value(r), edge_value(r), edge_value(r),
                                                         edge_value(r), edge_value(r)});
  FUZZ_CHECK(v.rank == kMaxRank && v.numel() >= 0, "make_view gave rank %d, numel %lld", v.rank,
             static_cast<long long>(v.numel()));
  for (int i = 0; i < v.rank; ++i) FUZZ_CHECK(v.stride[i] >= 1, "make_view gave stride %lld", static_cast<long long>(v.stride[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  switch (r.u8() % 3) {
    case 0: fuzz_decode(r); break;
    case 1: fuzz_schedule(r); break;
    default: fuzz_queries(r); break;
  }
  return 0;
}
