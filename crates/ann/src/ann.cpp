// The C++ half of pairscope-ann's bridge to faiss 1.7.3. The Rust side (src/ffi.rs and the
// modules using it) checks every argument it can before calling here; the checks below are the
// ones only C++ can make, or the last line of defence before faiss reads memory.
#include "pairscope-ann/include/ann.h"

#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <faiss/IndexFlat.h>
#include <faiss/clone_index.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/Heap.h>

// 1.7.3 is the first release whose IVF scanners take an IDSelector.
static_assert(
        FAISS_VERSION_MAJOR == 1 &&
                (FAISS_VERSION_MINOR > 7 ||
                 (FAISS_VERSION_MINOR == 7 && FAISS_VERSION_PATCH >= 3)),
        "pairscope-ann needs faiss >= 1.7.3");

namespace pairscope_ann {
namespace {

using Heap = faiss::CMin<float, int64_t>; // keeps the largest inner products

[[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error(why);
}

int to_int(size_t v) {
    return v > size_t(INT_MAX) ? INT_MAX : int(v);
}

// Runs the calling thread's next OpenMP regions on `threads` threads (0: leave the count as it
// is) and restores the count on exit. OpenMP keeps the count per calling thread, so another
// thread's training or encoding is not affected.
struct OmpThreads {
    int saved;
    explicit OmpThreads(size_t threads) : saved(omp_get_max_threads()) {
        if (threads > 0) {
            omp_set_num_threads(to_int(threads));
        }
    }
    ~OmpThreads() {
        omp_set_num_threads(saved);
    }
    OmpThreads(const OmpThreads&) = delete;
    OmpThreads& operator=(const OmpThreads&) = delete;
};

// faiss reads an index through an IOReader; this one reads a Rust slice without copying it.
struct SliceReader final : faiss::IOReader {
    const uint8_t* data;
    size_t len;
    size_t pos = 0;

    explicit SliceReader(rust::Slice<const uint8_t> bytes)
            : data(bytes.data()), len(bytes.size()) {
        name = "trained model bytes";
    }

    size_t operator()(void* ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0) {
            return 0;
        }
        size_t take = std::min(nitems, (len - pos) / size);
        if (take > 0) {
            std::memcpy(ptr, data + pos, take * size);
            pos += take * size;
        }
        return take;
    }
};

void expect(bool ok, const std::string& what) {
    if (!ok) {
        fail("not a pairscope IVF-PQ model: " + what);
    }
}

// Everything the rest of the crate relies on: an IndexIVFPQ (not a subclass) over an exact
// inner-product quantizer, 8-bit codes of `m` bytes on residuals, no polysemous filtering, no
// list entries.
void check_model(const faiss::Index* read, size_t dim, size_t nlist, size_t m) {
    expect(read != nullptr, "no index");
    expect(typeid(*read) == typeid(faiss::IndexIVFPQ),
           std::string("index of type ") + typeid(*read).name());
    const auto& ix = static_cast<const faiss::IndexIVFPQ&>(*read);
    expect(ix.metric_type == faiss::METRIC_INNER_PRODUCT, "metric is not inner product");
    expect(size_t(ix.d) == dim,
           "dimension " + std::to_string(ix.d) + ", expected " + std::to_string(dim));
    expect(ix.nlist == nlist,
           std::to_string(ix.nlist) + " lists, expected " + std::to_string(nlist));
    expect(ix.pq.M == m && ix.pq.nbits == 8 && ix.pq.ksub == 256 && ix.pq.dsub * m == dim &&
                   ix.pq.code_size == m && ix.code_size == m &&
                   ix.pq.centroids.size() == dim * 256,
           "product quantizer is not " + std::to_string(m) + " sub-quantizers of 8 bits");
    expect(ix.by_residual, "codes do not encode residuals");
    expect(ix.polysemous_ht == 0, "polysemous filtering is on");
    expect(ix.is_trained, "not trained");
    expect(ix.ntotal == 0, std::to_string(ix.ntotal) + " stored vectors, expected none");
    expect(ix.invlists != nullptr && ix.invlists->nlist == nlist &&
                   ix.invlists->code_size == m && ix.invlists->compute_ntotal() == 0,
           "inverted lists are not empty");
    expect(ix.direct_map.type == faiss::DirectMap::NoMap, "has a direct map");
    const auto* q = ix.quantizer;
    expect(q != nullptr &&
                   (typeid(*q) == typeid(faiss::IndexFlat) ||
                    typeid(*q) == typeid(faiss::IndexFlatIP)),
           "coarse quantizer is not a flat index");
    const auto& flat = static_cast<const faiss::IndexFlat&>(*q);
    expect(flat.metric_type == faiss::METRIC_INNER_PRODUCT && size_t(flat.d) == dim &&
                   size_t(flat.ntotal) == nlist && flat.code_size == dim * sizeof(float) &&
                   flat.codes.size() == nlist * dim * sizeof(float),
           "coarse quantizer does not hold " + std::to_string(nlist) + " centroids");
}

const faiss::IndexFlat& quantizer(const Model& model) {
    // check_model made sure of the type when the model was made or read.
    return static_cast<const faiss::IndexFlat&>(*model.index->quantizer);
}

} // namespace

bool BlockBitmap::is_member(idx_t id) const {
    if (id < 0) {
        return false;
    }
    uint64_t i = uint64_t(id);
    return (i >> 3) < len && ((bits[i >> 3] >> (i & 7)) & 1);
}

std::unique_ptr<Model> train(
        size_t dim,
        size_t nlist,
        size_t m,
        uint32_t seed,
        size_t threads,
        rust::Slice<const float> sample) {
    if (dim == 0 || m == 0 || dim % m != 0 || nlist == 0 || sample.size() % dim != 0) {
        fail("bad training parameters");
    }
    OmpThreads omp(threads);
    // "np": no polysemous training (it reorders the PQ centroids for Hamming filtering, which
    // the search never uses, at a large training cost).
    std::string spec = "IVF" + std::to_string(nlist) + ",PQ" + std::to_string(m) + "np";
    std::unique_ptr<faiss::Index> made(
            faiss::index_factory(to_int(dim), spec.c_str(), faiss::METRIC_INNER_PRODUCT));
    auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(made.get());
    if (ivfpq == nullptr) {
        fail("index_factory(" + spec + ") did not make an IndexIVFPQ");
    }
    made.release();
    std::unique_ptr<faiss::IndexIVFPQ> index(ivfpq);

    size_t n = sample.size() / dim;
    // Every seed faiss draws from: the coarse k-means' and the sub-quantizers' (initial
    // centroids and subsampling). The conversion wraps (C++20's rule, GCC's always).
    int s = static_cast<int>(seed);
    index->cp.seed = s;
    index->pq.cp.seed = s;
    // faiss subsamples to max_points_per_centroid points per centroid (256 by default); the
    // caller chose the sample, so both k-means use all of it.
    index->cp.max_points_per_centroid = to_int(n / nlist + 1);
    index->pq.cp.max_points_per_centroid = to_int(n / index->pq.ksub + 1);
    // Only used to print a warning on stderr for small samples; the crate's doc states the need.
    index->cp.min_points_per_centroid = 1;
    index->pq.cp.min_points_per_centroid = 1;
    index->verbose = false;
    index->cp.verbose = false;
    index->pq.verbose = false;

    index->train(faiss::Index::idx_t(n), sample.data());

    auto model = std::make_unique<Model>();
    model->index = std::move(index);
    check_model(model->index.get(), dim, nlist, m);
    return model;
}

std::unique_ptr<Model> read_model(
        rust::Slice<const uint8_t> bytes,
        size_t dim,
        size_t nlist,
        size_t m) {
    SliceReader reader(bytes);
    std::unique_ptr<faiss::Index> read(faiss::read_index(&reader));
    if (reader.pos != reader.len) {
        fail("not a pairscope IVF-PQ model: " + std::to_string(reader.len - reader.pos) +
             " bytes after the index");
    }
    check_model(read.get(), dim, nlist, m);
    auto model = std::make_unique<Model>();
    model->index.reset(static_cast<faiss::IndexIVFPQ*>(read.release()));
    return model;
}

std::unique_ptr<std::vector<uint8_t>> write_model(const Model& model) {
    faiss::VectorIOWriter writer;
    faiss::write_index(model.index.get(), &writer);
    return std::make_unique<std::vector<uint8_t>>(std::move(writer.data));
}

void assign(
        const Model& model,
        rust::Slice<const float> vectors,
        size_t threads,
        rust::Slice<int64_t> lists) {
    size_t n = lists.size();
    if (vectors.size() != n * size_t(model.index->d)) {
        fail("assign: vectors and lists differ in length");
    }
    if (n == 0) {
        return;
    }
    OmpThreads omp(threads);
    model.index->quantizer->assign(faiss::Index::idx_t(n), vectors.data(), lists.data());
}

void encode(
        const Model& model,
        rust::Slice<const float> vectors,
        rust::Slice<const int64_t> lists,
        size_t threads,
        rust::Slice<uint8_t> codes) {
    size_t n = lists.size();
    if (vectors.size() != n * size_t(model.index->d) ||
        codes.size() != n * model.index->code_size) {
        fail("encode: vectors, lists and codes differ in length");
    }
    for (int64_t list : lists) {
        if (list < 0 || size_t(list) >= model.index->nlist) {
            fail("encode: list " + std::to_string(list) + " out of range");
        }
    }
    if (n == 0) {
        return;
    }
    OmpThreads omp(threads);
    model.index->encode_vectors(
            faiss::Index::idx_t(n), vectors.data(), lists.data(), codes.data(), false);
}

rust::Slice<const float> centroids(const Model& model) {
    const faiss::IndexFlat& flat = quantizer(model);
    return rust::Slice<const float>(flat.get_xb(), size_t(flat.ntotal) * size_t(flat.d));
}

rust::String blas_core_name() {
    // Looked up, not linked: the BLAS behind libblas.so.3 may be another library.
    using CoreName = char* (*)();
    auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    const char* core = name ? name() : nullptr;
    return rust::String(core ? core : "");
}

void stop_blas_threads() {
    // Looked up, not linked: only OpenBLAS's pthread build has a pool to stop. It joins the
    // pool's threads; the next BLAS call that wants threads starts the pool again (OpenBLAS's
    // own lazy start, as in a child after fork).
    using Shutdown = int (*)();
    auto shutdown = reinterpret_cast<Shutdown>(dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"));
    if (shutdown) {
        shutdown();
    }
}

std::unique_ptr<Query> new_query(const Model& model, rust::Slice<const float> vector) {
    if (vector.size() != size_t(model.index->d)) {
        fail("query: wrong dimension");
    }
    auto query = std::make_unique<Query>();
    query->index = model.index.get();
    query->vector.assign(vector.begin(), vector.end());
    return query;
}

void Query::begin_block(size_t k, rust::Slice<const uint8_t> filter, bool use_filter) {
    if (k == 0) {
        fail("k must be at least 1");
    }
    std::unique_ptr<faiss::InvertedListScanner>& chosen = use_filter ? filtered : plain;
    if (!chosen) {
        // The scanner computes the query's inner products with all PQ centroids here, once
        // for every block this query searches.
        chosen.reset(index->get_InvertedListScanner(false, use_filter ? &bitmap : nullptr));
        if (!chosen) {
            fail("faiss made no scanner");
        }
        chosen->set_query(vector.data());
    }
    bitmap.bits = use_filter ? filter.data() : nullptr;
    bitmap.len = use_filter ? filter.size() : 0;
    scanner = chosen.get();
    heap_scores.assign(k, 0.0f);
    heap_ids.assign(k, -1);
    faiss::heap_heapify<Heap>(k, heap_scores.data(), heap_ids.data());
}

void Query::scan_list(
        int64_t list_no,
        float coarse_score,
        rust::Slice<const uint8_t> codes,
        rust::Slice<const int64_t> ids) {
    if (scanner == nullptr) {
        fail("scan_list outside a block");
    }
    if (list_no < 0 || size_t(list_no) >= index->nlist) {
        fail("scan_list: list " + std::to_string(list_no) + " out of range");
    }
    if (codes.size() != ids.size() * index->code_size) {
        fail("scan_list: codes and ids differ in length");
    }
    if (ids.empty()) {
        return;
    }
    // For inner product on residuals this adds the query's inner product with the list's
    // centroid to every code's score (coarse_score is not used by faiss in that case).
    scanner->set_list(list_no, coarse_score);
    scanner->scan_codes(
            ids.size(),
            codes.data(),
            ids.data(),
            heap_scores.data(),
            heap_ids.data(),
            heap_scores.size());
}

size_t Query::finish_block(rust::Slice<int64_t> ids, rust::Slice<float> scores) {
    size_t found = 0;
    if (scanner != nullptr) {
        found = faiss::heap_reorder<Heap>(
                heap_scores.size(), heap_scores.data(), heap_ids.data());
    }
    found = std::min({found, ids.size(), scores.size()});
    std::copy(heap_ids.begin(), heap_ids.begin() + found, ids.begin());
    std::copy(heap_scores.begin(), heap_scores.begin() + found, scores.begin());
    scanner = nullptr;
    bitmap.bits = nullptr;
    bitmap.len = 0;
    return found;
}

void reference_search(
        const Model& model,
        rust::Slice<const float> vectors,
        rust::Slice<const int64_t> ids,
        rust::Slice<const float> queries,
        size_t nprobe,
        size_t k,
        rust::Slice<int64_t> out_ids,
        rust::Slice<float> out_scores) {
    size_t d = size_t(model.index->d);
    size_t nq = queries.size() / d;
    if (vectors.size() != ids.size() * d || queries.size() != nq * d || k == 0 ||
        out_ids.size() != nq * k || out_scores.size() != nq * k) {
        fail("reference_search: bad argument lengths");
    }
    std::unique_ptr<faiss::Index> copy(faiss::clone_index(model.index.get()));
    copy->add_with_ids(faiss::Index::idx_t(ids.size()), vectors.data(), ids.data());
    faiss::SearchParametersIVF params;
    params.nprobe = nprobe;
    copy->search(
            faiss::Index::idx_t(nq),
            queries.data(),
            faiss::Index::idx_t(k),
            out_scores.data(),
            out_ids.data(),
            &params);
}

} // namespace pairscope_ann
