//! The codec every generated prospectus.v1 stub uses (set with `codec_path` in build.rs).
//!
//! It exists because tonic's prost codec reports bytes that do not decode as `INTERNAL`, which
//! tells a client the node is broken; a request that is not valid protobuf (a truncated varint,
//! bad UTF-8 in a string, a wrong wire type, nesting past prost's recursion limit) is the
//! client's mistake: `INVALID_ARGUMENT`, with prost's short reason. Encoding is prost's own.
//! Generated clients use it too, so a response that does not decode is also reported as
//! `INVALID_ARGUMENT` ("message did not decode"), with the same reason.

use prost::Message;
use std::marker::PhantomData;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Longest decode reason passed on (prost's are short; this bounds them anyway).
const MAX_REASON_CHARS: usize = 200;

/// prost encoding; decode failures become `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct StrictCodec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for StrictCodec<T, U> {
    fn default() -> Self {
        StrictCodec {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> Codec for StrictCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder {
            _pd: PhantomData,
            buffer_settings: BufferSettings::default(),
        }
    }
}

/// Decodes `U`, reporting undecodable bytes as the sender's error.
#[derive(Debug, Clone)]
pub struct StrictDecoder<U> {
    _pd: PhantomData<U>,
    buffer_settings: BufferSettings,
}

impl<U: Message + Default> Decoder for StrictDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| {
            let reason: String = e.to_string().chars().take(MAX_REASON_CHARS).collect();
            Status::invalid_argument(format!("message did not decode: {reason}"))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.buffer_settings
    }
}
