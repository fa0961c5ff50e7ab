//! Generates prost messages and tonic stubs for proto/prospectus/v1, plus the descriptor set
//! that server reflection serves. Uses the vendored protoc unless PROTOC is set, so a fresh
//! machine needs no system packages.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // SAFETY: build scripts are single-threaded at this point.
        unsafe { std::env::set_var("PROTOC", protoc) };
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let root = PathBuf::from("../../proto");
    let files = [
        "records",
        "entry",
        "publisher",
        "directory",
        "admin",
        "federation",
    ]
    .map(|f| root.join(format!("prospectus/v1/{f}.proto")));
    tonic_prost_build::configure()
        // Undecodable bytes are INVALID_ARGUMENT, not prost's INTERNAL (see src/codec.rs).
        .codec_path("crate::codec::StrictCodec")
        .file_descriptor_set_path(out.join("prospectus_descriptor.bin"))
        .compile_protos(&files, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
