//! Benchmarks for DESIGN §8, kept out of the test suite: they need a release build, minutes of
//! machine time and (for the comparison) a PostgreSQL server. `search-bench` measures search
//! over gRPC and in-process on a generated 100k-course directory, side by side with
//! PostgreSQL answering the same query mix (README.md documents the SQL mapping), then the
//! node's restart to ready and its memory after the run.

pub mod measure;
pub mod mix;
pub mod node;
pub mod pg;
pub mod restart;
