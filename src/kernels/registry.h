// The kernel registry: the one place where operations meet the code that runs them.
//
// Every runnable implementation — a CPU reference or an sm90 kernel family instantiation — is a
// Variant: {name, key, features, supports(), workspace_bytes(), run()}. The key is
// operation × backend × q dtype × KV format; `features` are the optional behaviours it implements
// (causal mask, attention sink, ...). An entry point (src/api/<op>.cpp) validates its arguments into a
// Problem, then calls select(): the first variant whose key matches and whose supports() accepts the
// problem runs it. can_implement() makes the same selection without running anything, so the two can
// never disagree. src/api names no kernel; kernels name no entry point.
//
// Adding a variant (docs/architecture.md): a folder under src/kernels/sm90/, one entry in a table of
// registry.cpp, its CPU reference in src/cpu/, its cases in testing/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla {
struct ScheduleProblem;  // src/common/decode_problem.h
struct DecodeProblem;    // src/common/decode_problem.h
struct MergeProblem;     // src/common/merge_problem.h
struct SparsePrefillProblem;  // src/common/sparse_prefill_problem.h
struct SparseDecodeProblem;   // src/common/sparse_decode_problem.h
}  // namespace flashmla

namespace flashmla::registry {

enum class Op : int32_t { kSchedule = 0, kDecode = 1, kSparseDecode = 2, kSparsePrefill = 3, kMerge = 4 };
enum class Backend : int32_t { kCpu = 0, kSm90 = 1 };

// Optional behaviours a problem asks for; a variant lists those it implements.
enum Feature : uint32_t {
  kFeatureNone = 0,
  kFeatureCausal = 1u << 0,      // end-aligned causal mask with s_q > 1
  kFeatureAttnSink = 1u << 1,    // per-head attention sink
  kFeatureTopkLength = 1u << 2,  // per-request count of valid top-k indices
  kFeatureExtraCache = 1u << 3,  // a second KV pool in the same softmax
};

struct VariantKey {
  Op op = Op::kDecode;
  Backend backend = Backend::kCpu;
  DType q_dtype = DType::kBF16;
  KvFormat kv_format = KvFormat::kDenseBF16;
};

const char* op_name(Op op);
const char* backend_name(Backend b);

template <class Problem>
struct Variant {
  const char* name;  // stable and unique, e.g. "sm90/decode_dense/bf16"
  VariantKey key;
  uint32_t features;                                // Feature bits implemented
  Status (*supports)(const Problem&);               // limits beyond the key (page size, heads, device)
  size_t (*workspace_bytes)(const Problem&);        // device workspace run() needs (0: none)
  Status (*run)(const Problem&);                    // enqueues (GPU) or computes (CPU); never allocates
};

template <class Problem>
struct Table {
  const Variant<Problem>* variants;
  size_t size;
};

// Why nothing matched, built only on failure.
Status no_variant(const VariantKey& key, uint32_t missing_features, const std::string& available);

// The first variant of `table` whose key equals `key`, whose features include `features` and whose
// supports() accepts `problem`. On failure: the last supports() error of a matching key, or
// kNotSupported naming the key and the variants this build has.
template <class Problem>
Status select(const Table<Problem>& table, const VariantKey& key, uint32_t features, const Problem& problem,
              const Variant<Problem>** out) {
  Status last;
  uint32_t missing = 0;
  bool key_seen = false;
  for (size_t i = 0; i < table.size; ++i) {
    const Variant<Problem>& v = table.variants[i];
    if (v.key.op != key.op || v.key.backend != key.backend || v.key.q_dtype != key.q_dtype ||
        v.key.kv_format != key.kv_format)
      continue;
    key_seen = true;
    if ((v.features & features) != features) {
      missing = features & ~v.features;
      continue;
    }
    Status st = v.supports(problem);
    if (st.ok()) {
      *out = &v;
      return st;
    }
    last = st;
  }
  if (!last.ok()) return last;
  std::string names;
  for (size_t i = 0; i < table.size; ++i) {
    if (table.variants[i].key.op != key.op) continue;
    names += names.empty() ? "" : ", ";
    names += table.variants[i].name;
  }
  return no_variant(key, key_seen ? missing : 0, names);
}

// The tables (registry.cpp). Each operation's Problem type is declared in src/common/<op>_problem.h.
const Table<ScheduleProblem>& schedule_variants();
const Table<DecodeProblem>& decode_variants();
const Table<MergeProblem>& merge_variants();
const Table<SparsePrefillProblem>& sparse_prefill_variants();
const Table<SparseDecodeProblem>& sparse_decode_variants();

}  // namespace flashmla::registry
