// The C++ half of pairscope-ann's bridge to faiss (see src/ffi.rs for the contract of every
// function; src/ann.cpp for the implementation). Every function may throw; cxx turns a thrown
// std::exception (faiss::FaissException is one) into a Rust Err.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/IDSelector.h>

#include "rust/cxx.h"

namespace pairscope_ann {

// A trained IndexIVFPQ with no list entries: coarse centroids and PQ codebooks.
struct Model {
    std::unique_ptr<faiss::IndexIVFPQ> index;
};

// Keeps the ids whose bit is set in a bitmap (bit i is bit i % 8 of byte i / 8); ids past the
// bitmap's end and negative ids are not kept. The scanner made with it keeps a pointer to this
// object, so the bitmap can change from one block to the next without a new scanner.
struct BlockBitmap final : faiss::IDSelector {
    const uint8_t* bits = nullptr;
    size_t len = 0;
    bool is_member(idx_t id) const override;
};

// One query's state: its vector, faiss's scanners (with the inner products of the query with
// every PQ centroid, computed once) and the result heap of the block being searched.
struct Query {
    const faiss::IndexIVFPQ* index = nullptr;
    std::vector<float> vector; // the scanners keep a pointer to it
    BlockBitmap bitmap;
    std::unique_ptr<faiss::InvertedListScanner> plain;
    std::unique_ptr<faiss::InvertedListScanner> filtered;
    faiss::InvertedListScanner* scanner = nullptr; // the current block's
    std::vector<float> heap_scores;
    std::vector<int64_t> heap_ids;

    void begin_block(size_t k, rust::Slice<const uint8_t> filter, bool use_filter);
    void scan_list(
            int64_t list_no,
            float coarse_score,
            rust::Slice<const uint8_t> codes,
            rust::Slice<const int64_t> ids);
    size_t finish_block(rust::Slice<int64_t> ids, rust::Slice<float> scores);
};

std::unique_ptr<Model> train(
        size_t dim,
        size_t nlist,
        size_t m,
        uint32_t seed,
        size_t threads,
        rust::Slice<const float> sample);
std::unique_ptr<Model> read_model(
        rust::Slice<const uint8_t> bytes,
        size_t dim,
        size_t nlist,
        size_t m);
std::unique_ptr<std::vector<uint8_t>> write_model(const Model& model);
void assign(
        const Model& model,
        rust::Slice<const float> vectors,
        size_t threads,
        rust::Slice<int64_t> lists);
void encode(
        const Model& model,
        rust::Slice<const float> vectors,
        rust::Slice<const int64_t> lists,
        size_t threads,
        rust::Slice<uint8_t> codes);
rust::Slice<const float> centroids(const Model& model);
rust::String blas_core_name();
void stop_blas_threads();
std::unique_ptr<Query> new_query(
        const Model& model,
        rust::Slice<const float> vector);
void reference_search(
        const Model& model,
        rust::Slice<const float> vectors,
        rust::Slice<const int64_t> ids,
        rust::Slice<const float> queries,
        size_t nprobe,
        size_t k,
        rust::Slice<int64_t> out_ids,
        rust::Slice<float> out_scores);

} // namespace pairscope_ann
