//! Compiles the C++ side of the bridge (`src/ann.cpp`) against Debian's faiss 1.7.3 headers and
//! links the static `libfaiss.a` with what it needs at run time: BLAS and LAPACK (`sgemm_` and
//! friends; Debian's `liblapack.so.3` pulls `libgfortran.so.5` in itself), OpenMP (`libgomp`) and
//! the C++ standard library.

use std::path::Path;

const HEADER: &str = "/usr/include/faiss/IndexIVFPQ.h";

fn main() {
    // Debian's multiarch directory: /usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let lib_dir = format!("/usr/lib/{arch}-linux-gnu");
    let lib = format!("{lib_dir}/libfaiss.a");
    let missing: Vec<&str> = [HEADER, &lib].into_iter().filter(|path| !Path::new(path).exists()).collect();
    if !missing.is_empty() {
        eprintln!(
            "pairscope-ann needs faiss 1.7.3's headers and static library; missing: {}. \
             Install Debian's libfaiss-dev: apt-get install -y libfaiss-dev",
            missing.join(", ")
        );
        std::process::exit(1);
    }

    cxx_build::bridge("src/ffi.rs")
        .file("src/ann.cpp")
        .std("c++17")
        // The faiss headers declare OpenMP-dependent code; faiss itself was built with it.
        .flag("-fopenmp")
        .flag_if_supported("-Wno-unused-parameter")
        .compile("pairscope-ann-faiss");

    // After the bridge's own archive (emitted by `compile`): the linker resolves left to right.
    println!("cargo:rustc-link-search=native={lib_dir}");
    println!("cargo:rustc-link-lib=static=faiss");
    println!("cargo:rustc-link-lib=dylib=lapack");
    println!("cargo:rustc-link-lib=dylib=blas");
    println!("cargo:rustc-link-lib=dylib=gomp");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rerun-if-changed=src/ann.cpp");
    println!("cargo:rerun-if-changed=include/ann.h");
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed={lib}");
}
