//! The wire form of Prospectus: prost messages and tonic stubs generated from `proto/`, and the
//! conversions between them and `prospectus-model`.
//!
//! Conversion lives here, not in `model`, so the model stays free of protobuf; and not in
//! `server`, so the store can decode signed payloads without knowing about gRPC services.
//! Decoding from the wire is fallible and reports every bad field with its path, exactly like
//! model validation, so a client sees one list of problems.

pub mod codec;
mod convert;

pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("prospectus.v1");

    /// Encoded `FileDescriptorSet` of prospectus.v1, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("prospectus_descriptor");
}

pub use convert::{
    FromWire, ToWire, WireEnum, course_summary, decode_record, encode_record, provider_summary,
    publish_op, venue_summary, wire_date,
};
